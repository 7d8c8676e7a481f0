package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/auth"
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Config is what Open connects the console to. The local platform and
// the standalone connector (a cluster's) both open it so.
type Config struct {
	// Gateway lists and reads the functions, with the gateway's
	// credentials. Required.
	Gateway *gateway.Client
	// NATSURL is the platform's NATS; the platform user is NATSUser and
	// NATSPassword when set, else the URL's. Required.
	NATSURL, NATSUser, NATSPassword string
	// MongoURI is the platform's MongoDB (stats windows, finished files,
	// tenants' ingestion records). Required.
	MongoURI string
	// PlatformDB is the platform database; empty: the contract's.
	PlatformDB string
	// CAFile is the platform's CA (shared/trust), for a tls:// NATS URL
	// and a MongoDB URI with tls=true; empty: the system's roots.
	CAFile string
	// Auth, when set, is required of every request, and keys the forms'
	// CSRF tokens, so that every replica serving the console accepts the
	// forms of the others. Nil where a gateway in front already asks for
	// its credentials (the local platform's /ui/).
	Auth *auth.BasicAuthCredentials
	// Metrics, when set, gets the per-tenant gauges (NewCollector).
	Metrics prometheus.Registerer
	Log     *slog.Logger
}

// Site is the console connected to the platform: its handler (every path
// under Prefix) and the connections it holds until Close.
type Site struct {
	handler http.Handler
	nc      *nats.Conn
	db      *mongo.Client
}

// Open connects the console to NATS and MongoDB and returns its handler;
// its gauges are registered on cfg.Metrics. Neither connection need be
// up yet: NATS is retried in the background, MongoDB on each read, and a
// page shows what a source could not say.
func Open(cfg Config) (*Site, error) {
	if cfg.Gateway == nil || cfg.NATSURL == "" || cfg.MongoURI == "" {
		return nil, errors.New("console: the gateway, a NATS URL and a MongoDB URI are required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{nats.Name("mysimbdp console"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true)}
	if cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	}
	opts = append(opts, trust.NATS(cfg.CAFile)...)
	mopts, err := mongotrust.Options(options.Client().ApplyURI(cfg.MongoURI), cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("console: connect to NATS: %w", err)
	}
	s := &Site{nc: nc}
	s.db, err = mongo.Connect(mopts)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("console: MongoDB client: %w", err)
	}
	fail := func(err error) (*Site, error) {
		s.Close(context.Background())
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(fmt.Errorf("console: JetStream: %w", err))
	}
	deps := Deps{Gateway: cfg.Gateway, JetStream: js, Mongo: s.db, PlatformDB: cfg.PlatformDB, Log: log}
	if cfg.Auth != nil {
		deps.CSRFKey = csrfKeyOf(cfg.Auth.Password)
	}
	if cfg.Metrics != nil {
		col, err := NewCollector(deps)
		if err != nil {
			return fail(err)
		}
		if err := cfg.Metrics.Register(col); err != nil {
			return fail(fmt.Errorf("console: register its metrics: %w", err))
		}
	}
	h, err := New(deps)
	if err != nil {
		return fail(err)
	}
	if cfg.Auth != nil {
		h = auth.DecorateWithBasicAuth(h.ServeHTTP, cfg.Auth)
	}
	s.handler = h
	return s, nil
}

// ServeHTTP serves the console (paths under Prefix).
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close closes the console's connections.
func (s *Site) Close(ctx context.Context) {
	if s.db != nil {
		_ = s.db.Disconnect(ctx)
	}
	s.nc.Close()
}

// csrfKeyOf derives the forms' key from the password every replica
// shares: whoever cannot compute a token would need the password, which
// would let them in anyway.
func csrfKeyOf(password string) []byte {
	m := hmac.New(sha256.New, []byte(password))
	m.Write([]byte("mysimbdp console CSRF key"))
	return m.Sum(nil)
}
