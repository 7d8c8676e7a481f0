// Package function is the platform's scaler (see shared/scale for what it
// decides and why). The connector invokes it on its schedule annotation
// (topic cron-function, e.g. schedule: "@every 5s"); each invocation is one
// pass over every function with scaling labels, answered with what it did:
//
//	200  {"at":..., "functions":[{"function","from","to","backlog","why","error"}]}
//	500  the pass could not run (gateway or NATS unreachable, credentials
//	     missing): the answer says which
//
// Its environment:
//
//	OPENFAAS_URL                   the OpenFaaS gateway (default http://gateway.openfaas:8080;
//	                               MYSIMBDP_GATEWAY_URL, its old name, still works)
//	MYSIMBDP_NATS_URL              NATS with JetStream, where the backlogs and the scaler's memory are (required)
//	MYSIMBDP_SCALE_STABILIZATION   scale-down window for functions without their own label (default 2m)
//	MYSIMBDP_SCALE_METRICS_URL     Prometheus metrics with the invocations in flight per function
//	                               (default: the gateway's /metrics, where the local provider serves them;
//	                               an OpenFaaS gateway serves its own on port 8082)
//
// and, like OpenFaaS components, the gateway's credentials as the secrets
// basic-auth-user and basic-auth-password, read from MYSIMBDP_SECRETS_DIR
// (default /var/openfaas/secrets). See shared/contract for every name.
package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/scale"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// process is the one value that lives as long as the process: Handle's
// signature gives it nowhere else to keep its NATS connection.
var process = NewHandler(os.Getenv, slog.New(slog.NewJSONHandler(os.Stderr, nil)))

// Handle serves one invocation: one scaling pass.
func Handle(w http.ResponseWriter, r *http.Request) { process.ServeHTTP(w, r) }

// Handler is the function as an http.Handler, configured from getenv on
// the first request. Tests build their own with NewHandler.
type Handler struct {
	log    *slog.Logger
	scaler *fnrun.Lazy[*running]
}

// running is a configured scaler and the connection it holds.
type running struct {
	nc *nats.Conn
	s  *scale.Scaler
}

// NewHandler returns a Handler reading its environment through getenv.
func NewHandler(getenv func(string) string, log *slog.Logger) *Handler {
	return &Handler{log: log, scaler: fnrun.NewLazy(func() (*running, error) { return build(getenv, log) })}
}

func build(getenv func(string) string, log *slog.Logger) (*running, error) {
	// Credentials come from the function's credentials secret.
	env, errs := secret.FunctionEnv(getenv)
	// Inside the cluster, not on this machine, unless told otherwise.
	gwURL := contract.DefaultClusterGatewayURL
	if env.IsSet(contract.EnvGatewayURL) {
		gwURL = env.GatewayURL
	}
	gw, err := gateway.NewFromSecrets(gwURL, env.SecretsDir)
	if err != nil {
		errs = append(errs, fmt.Errorf("gateway %s: %w", gwURL, err))
	} else if err := gw.TrustCA(env.CAFile()); err != nil {
		errs = append(errs, err)
	}
	metricsTransport := &http.Transport{}
	if err := trust.HTTP(metricsTransport, env.CAFile()); err != nil {
		errs = append(errs, err)
	}
	url := env.NATSURL
	if url == "" {
		errs = append(errs, fmt.Errorf("%s is not set", contract.EnvNATSURL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("scaler: %w", err)
	}
	stab := env.ScaleStabilization
	nc, err := nats.Connect(url, append(trust.NATS(env.CAFile()), nats.Name("mysimbdp-scaler"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("scaler: connect to NATS %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("scaler: JetStream: %w", err)
	}
	metricsURL := env.ScaleMetricsURL
	if metricsURL == "" {
		metricsURL = strings.TrimRight(gwURL, "/") + "/metrics"
	}
	inflight := scale.MetricsInflight(metricsURL, &http.Client{Timeout: 10 * time.Second, Transport: metricsTransport})
	return &running{nc: nc, s: scale.New(gw, js, inflight, stab, env.JSReplicas, log)}, nil
}

// Close releases the NATS connection, if it was made.
func (h *Handler) Close(ctx context.Context) error {
	return h.scaler.Release(func(r *running) error { r.nc.Close(); return nil })
}

// ServeHTTP runs one pass.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	run, err := h.scaler.Get()
	if err != nil {
		h.log.ErrorContext(r.Context(), "scaler is misconfigured", "err", err)
		fnrun.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	rep, err := run.s.Run(ctx)
	if err != nil {
		h.log.ErrorContext(ctx, "scaling pass", "err", err)
		fnrun.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	fnrun.WriteJSON(w, http.StatusOK, rep)
}
