package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// Connector delivers JetStream events to OpenFaaS functions. Create it with
// New and run it with Run.
type Connector struct {
	cfg     Config
	gw      *gateway.Client
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *metrics
	tracker *tracker

	// routes is the latest routing table; nil until the first successful
	// read of the function list.
	routes  atomic.Pointer[routeTable]
	running atomic.Bool
	// handlers counts the goroutines handling messages (the stream
	// manager counts as one until its batches are settled).
	handlers sync.WaitGroup

	// pauses holds the tenants' pause flags, fed by the control bucket.
	pauses *pauseBoard
	// streamFns carries the newest function list from refresh to the
	// stream manager (at most one list waits).
	streamFns chan []types.FunctionStatus
	// schedFns does the same for the scheduler.
	schedFns chan []types.FunctionStatus
	smetrics *streamMetrics
	// id tells this connector's records (scheduled ticks) from another
	// replica's.
	id string
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
	reg := prometheus.NewRegistry()
	return &Connector{
		cfg:     cfg,
		gw:      gw,
		log:     log.With("component", "connector"),
		reg:     reg,
		metrics: newMetrics(reg),
		// Twice MaxAckPending: states of messages settled by another
		// replica or expired are evicted before any live one.
		tracker:   newTracker(2 * cfg.MaxAckPending),
		pauses:    newPauseBoard(),
		streamFns: make(chan []types.FunctionStatus, 1),
		schedFns:  make(chan []types.FunctionStatus, 1),
		smetrics:  newStreamMetrics(reg),
		id:        instanceID(),
	}, nil
}

// instanceID names this connector process: host, pid and start time.
func instanceID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%d", host, os.Getpid(), time.Now().UnixNano())
}

// Config returns the configuration in use, defaults filled in.
func (c *Connector) Config() Config { return c.cfg }

// EnsureStreams creates the S3 events stream and the dead-letter stream if
// they are missing. A stream that exists is left as it is, even if its
// configuration differs: operators may have tuned it.
func (c *Connector) EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, sc := range []jetstream.StreamConfig{{
		Name:        c.cfg.Stream,
		Description: "MinIO bucket notifications, kept until the connector delivered them",
		Subjects:    []string{c.cfg.Subject},
		Storage:     jetstream.FileStorage,
		// A full stream refuses new events (MinIO keeps them in its queue
		// folder and retries) rather than dropping old undelivered ones.
		Discard:  jetstream.DiscardNew,
		MaxAge:   c.cfg.EventsMaxAge,
		MaxBytes: c.cfg.StreamMaxBytes,
	}, c.waitingStreamConfig(), {
		Name:        c.cfg.DeadLetterStream,
		Description: "Events the connector gave up on, with the reason, per tenant",
		Subjects:    []string{c.cfg.DeadLetterSubjectPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		// Refusing new dead letters keeps their originals in their own
		// stream (the connector retries), which loses nothing.
		Discard:  jetstream.DiscardNew,
		MaxAge:   c.cfg.DeadLetterMaxAge,
		MaxBytes: c.cfg.StreamMaxBytes,
	}, {
		Name:        c.cfg.ReportsStream,
		Description: "Ingest functions' reports, kept until the stats function took them",
		Subjects:    []string{c.cfg.ReportsSubject + ".>"},
		Storage:     jetstream.FileStorage,
		// Reports are published without acks; when the stream is full
		// the oldest give way, which costs statistics, never data.
		Discard:  jetstream.DiscardOld,
		MaxAge:   c.cfg.ReportsMaxAge,
		MaxBytes: c.cfg.StreamMaxBytes,
	}} {
		_, err := js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			c.log.Debug("stream exists with another configuration; left as it is", "stream", sc.Name)
			continue
		}
		if err != nil {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// platformStreams are the platform's streams that functions without a
// tenant label may subscribe to.
func (c *Connector) platformStreams() []platformStream {
	return []platformStream{{stream: c.cfg.ReportsStream, subject: c.cfg.ReportsSubject}}
}

// consumerConfig is the durable pull consumer on the S3 events stream.
func (c *Connector) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "mysimbdp connector: S3 events to tenants' batch functions",
		FilterSubject: c.cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		// The connector counts attempts itself (deferrals do not count),
		// so the server must never drop a message on its own.
		MaxDeliver:    -1,
		MaxAckPending: c.cfg.MaxAckPending,
	}
}

// Run connects to NATS, keeps the routing table fresh and delivers events
// until ctx is cancelled. It then stops fetching, waits up to
// ShutdownTimeout for in-flight invocations, interrupts the rest (their
// events are handed back to JetStream), and returns. Failures to reach
// NATS or the gateway are retried, not returned: Run returns an error only
// for a configuration that can never work.
func (c *Connector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("connector: Run called twice")
	}
	log := c.log
	nc, err := nats.Connect(c.cfg.NATSURL,
		nats.Name("mysimbdp-connector"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrl()) }),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS %s: %w", c.cfg.NATSURL, err)
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

	// work outlives ctx so in-flight invocations can finish after a stop
	// request; it is cancelled once ShutdownTimeout has passed.
	work, interrupt := context.WithCancel(context.WithoutCancel(ctx))
	defer interrupt()

	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() { c.refreshLoop(ctx) })
	// Counted in handlers, so the shutdown below waits for stream batches
	// as for S3 events, and interrupts them alike.
	c.handlers.Go(func() { c.runStreams(ctx, work, js) })
	bg.Go(func() { c.runSchedules(ctx, js) })

	// Events back from waiting (wait.go) have their own consumer and
	// their own bound, so that neither loop waits on the other's pull.
	c.handlers.Go(func() {
		c.consumeLoop(ctx, work, js, c.cfg.WaitingStream, c.readyConsumerConfig(), make(chan struct{}, c.cfg.MaxConcurrent))
	})
	c.consumeLoop(ctx, work, js, c.cfg.Stream, c.consumerConfig(), make(chan struct{}, c.cfg.MaxConcurrent))

	done := make(chan struct{})
	go func() {
		c.handlers.Wait()
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

// consumeLoop sets up the consumer cc on stream and consumes from it,
// setting it up again when it disappears, until ctx is done.
func (c *Connector) consumeLoop(ctx, work context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig, sem chan struct{}) {
	for ctx.Err() == nil {
		cons, err := c.setup(ctx, js, stream, cc)
		if err != nil {
			return // ctx is done
		}
		c.log.Info("connector consuming", "stream", stream, "subject", cc.FilterSubject, "durable", cc.Durable,
			"max_concurrent", cap(sem), "ack_wait", cc.AckWait)
		c.consume(ctx, work, js, cons, sem)
	}
}

// setup creates the streams (unless skipped) and the consumer, retrying
// with back-off until it works or ctx is done.
func (c *Connector) setup(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		cons, err := c.trySetup(ctx, js, stream, cc)
		if err == nil {
			return cons, nil
		}
		delay := backoff(attempt, 100*time.Millisecond, 10*time.Second)
		if ctx.Err() == nil {
			c.log.Warn("set up JetStream consumer; retrying", "err", err, "retry_in", delay)
		}
		if !sleep(ctx, delay) {
			return nil, ctx.Err()
		}
	}
}

func (c *Connector) trySetup(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !c.cfg.SkipEnsureStreams {
		if err := c.EnsureStreams(sctx, js); err != nil {
			return nil, err
		}
	}
	cons, err := js.CreateOrUpdateConsumer(sctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("create consumer %s on stream %s: %w", cc.Durable, stream, err)
	}
	return cons, nil
}

// consume pulls messages while there is capacity, handing each to its own
// goroutine, until ctx is done or the consumer is gone. A pull asks for as
// many messages as there are free slots, never more, so no message waits
// in a local buffer while its AckWait runs out.
//
// sem outlives one consume call, so that handlers still running when the
// consumer is set up again keep counting against the bound.
func (c *Connector) consume(ctx, work context.Context, js jetstream.JetStream, cons jetstream.Consumer, sem chan struct{}) {
	release := func(n int) {
		for range n {
			<-sem
		}
	}
	fails := 0
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	grab:
		for n < c.cfg.MaxConcurrent {
			select {
			case sem <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			release(n)
			if ctx.Err() != nil {
				continue
			}
			fails++
			if c.pullFailed(ctx, err, fails) {
				return
			}
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				// Arrived while stopping: hand it straight back.
				_ = msg.Nak()
				<-sem
				continue
			}
			c.handlers.Go(func() {
				defer func() { <-sem }()
				c.handleS3(work, js, msg)
			})
		}
		cancel()
		release(n - got)
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			fails++
			if c.pullFailed(ctx, err, fails) {
				return
			}
			continue
		}
		fails = 0
	}
}

// pullFailed logs a failed pull and waits before the next one. It reports
// whether the consumer must be set up again.
func (c *Connector) pullFailed(ctx context.Context, err error, fails int) (resetup bool) {
	delay := backoff(fails, 100*time.Millisecond, 5*time.Second)
	c.log.Warn("pull from JetStream", "err", err, "retry_in", delay)
	sleep(ctx, delay)
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// refreshLoop re-reads the function list every RefreshInterval. It reads
// it once at once, so events find their functions from the start.
func (c *Connector) refreshLoop(ctx context.Context) {
	warned := map[string]bool{}
	tick := time.NewTicker(c.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(c.cfg.RefreshInterval, 10*time.Second))
		err := c.refresh(rctx, warned)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Warn("refresh function list; keeping the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
