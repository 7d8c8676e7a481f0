package localstack

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/console"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// startConsole connects the operator's dashboard (served by the gateway
// at /ui/) to NATS and the platform database, and adds its per-tenant
// gauges to the connector's metrics (/connector/metrics). Stop closes its
// connections.
func (s *Stack) startConsole(ctx context.Context, gw *gateway.Client) (http.Handler, error) {
	nc, err := nats.Connect(s.Endpoints.NATS, nats.Name("mysimbdp console"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("console: connect to NATS: %w", err)
	}
	db, err := mongo.Connect(options.Client().ApplyURI(s.Endpoints.MongoURI))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("console: MongoDB client: %w", err)
	}
	s.closeConsole = func(ctx context.Context) {
		_ = db.Disconnect(ctx)
		nc.Close()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("console: JetStream: %w", err)
	}
	deps := console.Deps{Gateway: gw, JetStream: js, Mongo: db, PlatformDB: os.Getenv(contract.EnvPlatformDB),
		Log: s.log.With("part", "console")}
	col, err := console.NewCollector(deps)
	if err != nil {
		return nil, err
	}
	if err := s.connector.Registry().Register(col); err != nil {
		return nil, fmt.Errorf("console: register its metrics: %w", err)
	}
	return console.New(deps)
}
