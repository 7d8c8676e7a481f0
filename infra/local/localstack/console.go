package localstack

import (
	"net/http"
	"os"

	"github.com/mysimbdp/mysimbdp/infra/console"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// startConsole connects the operator's dashboard (served by the gateway
// at /ui/, behind its credentials) to NATS and the platform database, and
// adds its per-tenant gauges to the connector's metrics
// (/connector/metrics). Stop closes its connections.
func (s *Stack) startConsole(gw *gateway.Client) (http.Handler, error) {
	site, err := console.Open(console.Config{
		Gateway:    gw,
		NATSURL:    s.Endpoints.NATS,
		MongoURI:   s.Endpoints.MongoURI,
		CAFile:     s.Endpoints.CAFile,
		PlatformDB: os.Getenv(contract.EnvPlatformDB),
		Metrics:    s.connector.Registry(),
		Log:        s.log.With("part", "console"),
	})
	if err != nil {
		return nil, err
	}
	s.closeConsole = site.Close
	return site, nil
}
