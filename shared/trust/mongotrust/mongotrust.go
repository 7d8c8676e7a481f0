// Package mongotrust is shared/trust for the MongoDB driver, kept apart so
// that clients without a database (the connector, the gateway client) do
// not link the driver.
package mongotrust

import (
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Options makes opts, with its URI applied, trust the platform's CA in
// caFile when the URI asks for TLS (tls=true); a tlsCAFile in the URI is
// replaced. Without caFile or TLS, opts is returned as it is.
func Options(opts *options.ClientOptions, caFile string) (*options.ClientOptions, error) {
	if caFile == "" || opts.TLSConfig == nil {
		return opts, nil
	}
	pool, err := trust.Pool(caFile)
	if err != nil {
		return nil, err
	}
	opts.TLSConfig.RootCAs = pool
	return opts, nil
}
