package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mysimbdp/mysimbdp/infra/connector/async"
	"github.com/mysimbdp/mysimbdp/infra/connector/control"
	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/infra/connector/s3event"
	"github.com/mysimbdp/mysimbdp/infra/connector/schedule"
	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Connector delivers JetStream events to OpenFaaS functions. Create it with
// New and run it with Run.
type Connector struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *core.Metrics
	dir     *core.Directory
	board   *control.Board
	s3      *s3event.Flow
	streams *stream.Manager
	sched   *schedule.Scheduler
	async   *async.Flow
	running atomic.Bool
}

// New checks cfg (zero fields take DefaultConfig's values) and returns a
// connector that invokes functions through gw. It does not connect to
// anything; Run does.
func New(cfg Config, gw *gateway.Client, log *slog.Logger) (*Connector, error) {
	if gw == nil {
		return nil, errors.New("connector: gateway client is nil")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "connector")
	reg := prometheus.NewRegistry()
	c := &Connector{cfg: cfg, log: log, reg: reg, metrics: core.NewMetrics(reg)}
	c.dir = core.NewDirectory(gw, cfg.RefreshInterval, topicOwner, c.metrics, log)
	c.board = control.NewBoard(reg, log, cfg.JSReplicas)
	inv := core.NewInvoker(gw, cfg.InvokeTimeout, c.metrics, []byte(cfg.InvokeMasterKey))
	pol := core.Policy{MaxAttempts: cfg.MaxAttempts, BackoffInitial: cfg.BackoffInitial, BackoffMax: cfg.BackoffMax,
		MaxRetryAfter: cfg.MaxRetryAfter, UnavailableDeadline: cfg.UnavailableDeadline, MaxDeliveries: cfg.MaxDeliveries, AckWait: cfg.AckWait}
	s3cfg := s3event.Config{
		Stream: cfg.Stream, Subject: cfg.Subject, Durable: cfg.Durable,
		WaitingStream: cfg.WaitingStream, WaitingSubjectPrefix: cfg.WaitingSubjectPrefix, IncomingPrefix: cfg.IncomingPrefix,
		EventsMaxAge: cfg.EventsMaxAge, StreamMaxBytes: cfg.StreamMaxBytes, WaitingMaxEvents: cfg.WaitingMaxEvents, Replicas: cfg.JSReplicas,
		MaxConcurrent: cfg.MaxConcurrent, MaxAckPending: cfg.MaxAckPending, FetchWait: cfg.FetchWait,
		RefreshInterval: cfg.RefreshInterval,
		SweepInterval:   cfg.SweepInterval, SweepAge: cfg.SweepAge, SweepBucket: cfg.SweepBucket,
	}
	if cfg.S3Endpoint != "" {
		tr, err := trust.S3Transport(cfg.S3Secure, cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("connector: MinIO client for the sweep: %w", err)
		}
		s3cfg.S3, err = minio.New(cfg.S3Endpoint, &minio.Options{
			Creds: credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""), Secure: cfg.S3Secure, Transport: tr})
		if err != nil {
			return nil, fmt.Errorf("connector: MinIO client for the sweep: %w", err)
		}
	}
	if !cfg.SkipEnsureStreams {
		s3cfg.Ensure = c.EnsureStreams
	}
	c.s3 = s3event.New(s3cfg, s3event.Deps{Policy: pol, Invoker: inv, Directory: c.dir, Board: c.board,
		Metrics: c.metrics, Registry: reg, Log: log})
	c.streams = stream.New(stream.Config{
		MaxAckPending: cfg.StreamMaxAckPending, MaxBatchBytes: cfg.StreamMaxBatchBytes, MaxConcurrent: cfg.StreamMaxConcurrent,
		FetchWait: cfg.FetchWait, ReportsStream: cfg.ReportsStream, ReportsSubject: cfg.ReportsSubject,
	}, stream.Deps{Policy: pol, Invoker: inv, Board: c.board, Metrics: c.metrics, Registry: reg, Log: log,
		Functions: c.dir.Subscribe()})
	acfg := async.Config{Stream: cfg.AsyncStream, SubjectPrefix: cfg.AsyncSubjectPrefix, Durable: cfg.AsyncDurable,
		MaxAge: cfg.EventsMaxAge, MaxBytes: cfg.StreamMaxBytes, Replicas: cfg.JSReplicas,
		MaxConcurrent: cfg.MaxConcurrent, MaxAckPending: cfg.MaxAckPending, FetchWait: cfg.FetchWait}
	if !cfg.SkipEnsureStreams {
		acfg.Ensure = c.EnsureStreams
	}
	c.async = async.New(acfg, async.Deps{Policy: pol, Invoker: inv, Metrics: c.metrics, Registry: reg, Log: log})
	c.sched = schedule.New(inv, c.dir.Subscribe(), reg, instanceID(), cfg.JSReplicas, log)
	return c, nil
}

// topicOwner is the tenant owning a topic, whichever flow's it is.
func topicOwner(topic string) (string, bool) {
	if t, ok := s3event.TopicOwner(topic); ok {
		return t, ok
	}
	return stream.TopicOwner(topic)
}

// instanceID names this connector process: host, pid and start time.
func instanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
}

// Config returns the configuration in use, defaults filled in.
func (c *Connector) Config() Config { return c.cfg }

// Registry is the connector's own registry, for a caller that serves
// several components' metrics together or adds process collectors.
func (c *Connector) Registry() *prometheus.Registry { return c.reg }

// MetricsHandler serves the connector's metrics in the Prometheus format.
func (c *Connector) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg})
}

// EnsureStreams creates the streams the connector reads and writes if
// they are missing: the S3 events and the waiting ones, the asynchronous
// invocations, the dead letters and the reports, each kept by JSReplicas servers, and the sweep's KV
// bucket. A stream that exists is left as it is, even if its
// configuration differs (operators may have tuned it), but for its
// replicas, which are raised to JSReplicas: the platform's setting says
// how many servers' loss it survives; fewer is an operator's call, never
// made here. The waiting stream is the exception: it is updated to the
// connector's configuration, since the limits older versions gave it
// dropped waiting events.
func (c *Connector) EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	scs := append(c.s3.StreamConfigs(), c.async.StreamConfig(), jetstream.StreamConfig{
		Name:        c.cfg.DeadLetterStream,
		Description: "Events the connector gave up on, with the reason, per tenant",
		Subjects:    []string{c.cfg.DeadLetterSubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		// Refusing new dead letters keeps their originals in their own
		// stream (the connector retries), which loses nothing.
		Discard:  jetstream.DiscardNew,
		MaxAge:   c.cfg.DeadLetterMaxAge,
		MaxBytes: c.cfg.StreamMaxBytes,
		Replicas: c.cfg.JSReplicas,
	}, jetstream.StreamConfig{
		Name:        c.cfg.ReportsStream,
		Description: "Ingest functions' reports, kept until the stats function took them",
		Subjects:    []string{c.cfg.ReportsSubject + ".>"},
		Storage:     jetstream.FileStorage,
		// Reports are published without acks; when the stream is full
		// the oldest give way, which costs statistics, never data.
		Discard:  jetstream.DiscardOld,
		MaxAge:   c.cfg.ReportsMaxAge,
		MaxBytes: c.cfg.StreamMaxBytes,
		Replicas: c.cfg.JSReplicas,
	})
	// The sweep's marks of announced objects: forgotten after the time an
	// event is kept, when announcing again costs at most a duplicate.
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      c.cfg.SweepBucket,
		Description: "Objects the connector's sweep announced again (their notification was lost), each once",
		TTL:         c.cfg.EventsMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    c.cfg.JSReplicas,
	}); err != nil {
		return fmt.Errorf("create KV bucket %s: %w", c.cfg.SweepBucket, err)
	}
	for _, sc := range scs {
		if sc.Name == c.cfg.WaitingStream {
			if s, err := js.Stream(ctx, sc.Name); err == nil {
				sc.Replicas = max(sc.Replicas, s.CachedInfo().Config.Replicas) // raised, never lowered
			}
			if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
				return fmt.Errorf("create or update stream %s: %w", sc.Name, err)
			}
			continue
		}
		_, err := js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			c.log.Debug("stream exists with another configuration; left as it is but for its replicas", "stream", sc.Name)
			err = raiseReplicas(ctx, js, sc.Name, sc.Replicas)
		}
		if err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// raiseReplicas updates stream name to replicas if it has fewer, leaving
// the rest of its configuration as it is.
func raiseReplicas(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", name, err)
	}
	sc := s.CachedInfo().Config
	if sc.Replicas >= replicas {
		return nil
	}
	from := sc.Replicas
	sc.Replicas = replicas
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		return fmt.Errorf("raise the replicas of stream %s from %d to %d: %w", name, from, replicas, err)
	}
	return nil
}

// Run connects to NATS, keeps the function list fresh and runs every flow
// until ctx is cancelled. It then stops pulling, waits up to
// ShutdownTimeout for in-flight invocations, interrupts the rest (their
// messages are handed back to JetStream), and returns. Failures to reach
// NATS or the gateway are retried, not returned: Run returns an error only
// for a configuration that can never work.
func (c *Connector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("connector: Run called twice")
	}
	log := c.log
	opts := []nats.Option{
		nats.Name("mysimbdp-connector"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	if c.cfg.NATSUser != "" {
		opts = append(opts, nats.UserInfo(c.cfg.NATSUser, c.cfg.NATSPassword))
	}
	opts = append(opts, trust.NATS(c.cfg.CAFile)...)
	nc, err := nats.Connect(c.cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", secret.RedactURLs(c.cfg.NATSURL), err)
	}
	defer func() {
		// Push out the last acks and naks before closing.
		if err := nc.FlushTimeout(2 * time.Second); err != nil && nc.IsConnected() {
			log.Warn("flush NATS connection", "err", err)
		}
		nc.Close()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("JetStream client: %w", err)
	}
	dls := core.NewDeadLetters(js, c.cfg.DeadLetterSubjectPrefix, c.metrics, log)

	// work outlives ctx so in-flight invocations can finish after a stop
	// request; it is cancelled once ShutdownTimeout has passed.
	work, interrupt := context.WithCancel(context.WithoutCancel(ctx))
	defer interrupt()

	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() { c.dir.Run(ctx) })
	bg.Go(func() { c.board.Run(ctx, js) })
	bg.Go(func() { c.sched.Run(ctx, js) })
	// The flows return once their in-flight work is settled.
	var flows sync.WaitGroup
	flows.Go(func() { c.streams.Run(ctx, work, js, dls) })
	flows.Go(func() { c.async.Run(ctx, work, js, dls) })
	flows.Go(func() {
		// S3 events wait in their stream until the function list was read
		// once: pulled before, each would be postponed and come back with
		// a delivery spent on nothing. (The stream flow waits for the
		// list by itself.)
		select {
		case <-c.dir.Ready():
		case <-ctx.Done():
			return
		}
		c.s3.Run(ctx, work, js, dls)
	})

	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		flows.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(c.cfg.ShutdownTimeout):
		log.Warn("in-flight invocations outlived the shutdown timeout; interrupting them", "timeout", c.cfg.ShutdownTimeout)
		interrupt()
		<-done
	}
	log.Info("connector stopped")
	return nil
}
