package connector

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Config is how a Connector runs. DefaultConfig gives every field its
// default, and New fills any zero field with that default, so a caller
// sets only what differs.
type Config struct {
	// NATSURL is the NATS server (default nats://127.0.0.1:4222).
	NATSURL string
	// NATSUser and NATSPassword, when set, authenticate to NATS (user
	// credentials written in NATSURL take precedence).
	NATSUser, NATSPassword string

	// Stream and Subject are where MinIO's bucket notifications are kept
	// (defaults S3EVENTS, mysimbdp.s3.events).
	Stream  string
	Subject string
	// Durable names the pull consumer; connector replicas sharing it share
	// the work (default mysimbdp-connector-s3).
	Durable string
	// WaitingStream and WaitingSubjectPrefix are where deferred events
	// wait until their time, out of the consumer every tenant shares
	// (defaults S3WAITING, mysimbdp.s3.waiting; see package s3event).
	WaitingStream        string
	WaitingSubjectPrefix string
	// IncomingPrefix is the object-key prefix whose uploads are ingested
	// (default "incoming/").
	IncomingPrefix string

	// DeadLetterStream keeps events that failed MaxAttempts times, under
	// DeadLetterSubjectPrefix.<tenant> (defaults DEADLETTER,
	// mysimbdp.deadletter).
	DeadLetterStream        string
	DeadLetterSubjectPrefix string

	// AsyncStream keeps the asynchronous invocations the gateway accepted,
	// under AsyncSubjectPrefix.<function>.<namespace>, consumed by the
	// durable consumer AsyncDurable (defaults ASYNC, mysimbdp.async,
	// mysimbdp-connector-async; see package async). EventsMaxAge and
	// StreamMaxBytes bound it like the S3 events stream.
	AsyncStream        string
	AsyncSubjectPrefix string
	AsyncDurable       string

	// ReportsStream keeps the ingest functions' reports, published on
	// ReportsSubject.<tenant>, for the platform functions subscribed to
	// them (the stats function: topic ReportsSubject.>) (defaults REPORTS,
	// mysimbdp.reports). ReportsMaxAge bounds how long an undelivered
	// report is kept (default 1 day).
	ReportsStream  string
	ReportsSubject string
	ReportsMaxAge  time.Duration

	// The sweep, the backstop for an upload whose MinIO notification was
	// lost (see package s3event): every SweepInterval (default 1m) the
	// connector lists the incoming/ folder of each bucket a function
	// subscribes to, with its own MinIO credentials (S3Endpoint,
	// S3AccessKey, S3SecretKey, S3Secure; listing rights suffice), and
	// announces again, once per object version, an object older than
	// SweepAge (default 10m) with no event pending. Without S3Endpoint
	// there is no sweep. SweepBucket is the KV bucket marking what was
	// announced (default mysimbdp-sweep).
	S3Endpoint, S3AccessKey, S3SecretKey string
	S3Secure                             bool
	// CAFile is the platform's CA, trusted besides the system's roots by
	// the connector's NATS, S3 and gateway clients (a tls:// NATS URL, S3
	// with S3Secure, an https:// gateway); empty: the system's only.
	CAFile                  string
	SweepInterval, SweepAge time.Duration
	SweepBucket             string

	// SkipEnsureStreams stops Run from creating missing streams (for
	// clusters where operators manage them).
	SkipEnsureStreams bool
	// EventsMaxAge bounds how long an undelivered event is kept (default 7
	// days); DeadLetterMaxAge the same for dead letters (default 30 days).
	EventsMaxAge     time.Duration
	DeadLetterMaxAge time.Duration
	// StreamMaxBytes bounds each of the two streams on disk (default 1 GiB).
	// When full they refuse new messages rather than drop old ones: MinIO
	// keeps refused events in its queue folder and retries.
	StreamMaxBytes int64
	// WaitingMaxEvents bounds the deferred events parked in the waiting
	// stream, whose bytes StreamMaxBytes bounds (default 1,000,000). The
	// connector enforces both before parking: past them an event is not
	// parked but stays unacked in the S3 events stream (logged, counted
	// in mysimbdp_connector_waiting_refused_total). A parked event is
	// never dropped.
	WaitingMaxEvents int64
	// JSReplicas is how many NATS servers keep each stream and KV bucket
	// the connector creates (default 1; 3 on a three-server cluster,
	// contract.EnvJSReplicas). A stream or bucket that exists with fewer
	// is given this many.
	JSReplicas int

	// MaxAttempts is how many failed invocation rounds an event gets before
	// it is dead-lettered (default 10). Deferrals (429/503) do not count.
	MaxAttempts int
	// BackoffInitial and BackoffMax bound the exponential delay before a
	// failed event is redelivered (defaults 1s, 5m).
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// MaxRetryAfter caps a function's Retry-After, so a wrong header
	// cannot park an event for days (default 15m).
	MaxRetryAfter time.Duration
	// UnavailableDeadline bounds how long an S3 event is deferred by 503
	// answers (a function's dependency outage, the provider's cold
	// start), counted from the first: deferrals spend no attempt, and
	// after this the event is dead-lettered with the last answer
	// (default 24h).
	UnavailableDeadline time.Duration
	// MaxDeliveries is the safety net for poison events whose outcome this
	// connector never recorded (e.g. it crashed while handling them every
	// time): an event delivered more often than this with no recorded
	// state is dead-lettered (default 10000).
	MaxDeliveries int

	// AckWait is how long JetStream waits for an outcome before it
	// redelivers (default 30s); while an invocation runs the connector
	// extends it every AckWait/3.
	AckWait time.Duration
	// RefreshInterval is how often the function list is re-read from the
	// gateway (default 15s).
	RefreshInterval time.Duration
	// InvokeMasterKey is the platform's invocation master key
	// (contract.InvokeMasterKeySecret): when set, every invocation is
	// signed with the key derived from it for its function
	// (shared/invokesig), which a function given that key requires.
	// Empty: invocations are not signed.
	InvokeMasterKey string
	// InvokeTimeout bounds one invocation (default 30m: a batch function
	// may ingest a multi-gigabyte file).
	InvokeTimeout time.Duration
	// MaxConcurrent bounds the events being handled at once (default 16).
	MaxConcurrent int
	// MaxAckPending bounds the events JetStream hands out without an
	// outcome, deferred ones included (default 1024); it also bounds the
	// in-memory delivery state.
	MaxAckPending int
	// FetchWait is how long one pull waits for events (default 5s); it is
	// also how quickly Run notices cancellation when idle.
	FetchWait time.Duration
	// ShutdownTimeout bounds how long Run waits, once cancelled, for
	// in-flight invocations before it interrupts them (default 30s).
	ShutdownTimeout time.Duration

	// Stream delivery (tenants' ingest-<tenant> streams to their stream
	// functions). MaxAttempts, back-off, AckWait, FetchWait (the wait for a
	// batch's first record) and the dead-letter stream are shared with the
	// S3 flow.
	//
	// StreamMaxAckPending bounds, per function, the records out without an
	// outcome, those waiting for a retry included (default 4096); it also
	// bounds the delivery states kept per function.
	StreamMaxAckPending int
	// StreamMaxBatchBytes bounds the record bytes of one batch (default 4
	// MiB; base64 in the JSON body makes that about 5.4 MB, under Lambda's
	// 6 MB request limit).
	StreamMaxBatchBytes int
	// StreamMaxConcurrent caps the batches in flight per function, whatever
	// its replicas × max-inflight (default 64).
	StreamMaxConcurrent int
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		NATSURL:                 contract.DefaultNATSURL,
		Stream:                  contract.S3EventsStream,
		Subject:                 contract.S3EventsSubject,
		Durable:                 contract.S3EventsDurable,
		WaitingStream:           contract.WaitingStream,
		WaitingSubjectPrefix:    contract.WaitingSubjectPrefix,
		IncomingPrefix:          "incoming/",
		DeadLetterStream:        contract.DeadLetterStream,
		DeadLetterSubjectPrefix: contract.DeadLetterSubjectPrefix,
		AsyncStream:             contract.AsyncStream,
		AsyncSubjectPrefix:      contract.AsyncSubjectPrefix,
		AsyncDurable:            contract.AsyncDurable,
		ReportsStream:           contract.ReportsStream,
		ReportsSubject:          contract.ReportSubjectPrefix,
		ReportsMaxAge:           24 * time.Hour,
		EventsMaxAge:            7 * 24 * time.Hour,
		DeadLetterMaxAge:        30 * 24 * time.Hour,
		StreamMaxBytes:          1 << 30,
		WaitingMaxEvents:        1_000_000,
		SweepInterval:           contract.DefaultSweepInterval,
		SweepAge:                contract.DefaultSweepAge,
		SweepBucket:             contract.SweepBucket,
		JSReplicas:              contract.DefaultJSReplicas,
		MaxAttempts:             10,
		BackoffInitial:          time.Second,
		BackoffMax:              5 * time.Minute,
		MaxRetryAfter:           15 * time.Minute,
		UnavailableDeadline:     24 * time.Hour,
		MaxDeliveries:           10000,
		AckWait:                 30 * time.Second,
		RefreshInterval:         15 * time.Second,
		InvokeTimeout:           30 * time.Minute,
		MaxConcurrent:           16,
		MaxAckPending:           1024,
		FetchWait:               5 * time.Second,
		ShutdownTimeout:         30 * time.Second,
		StreamMaxAckPending:     4096,
		StreamMaxBatchBytes:     4 << 20,
		StreamMaxConcurrent:     64,
	}
}

// withDefaults fills zero fields from DefaultConfig and checks the result.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	str := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	dur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	num := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	str(&c.NATSURL, d.NATSURL)
	str(&c.Stream, d.Stream)
	str(&c.Subject, d.Subject)
	str(&c.Durable, d.Durable)
	str(&c.WaitingStream, d.WaitingStream)
	str(&c.WaitingSubjectPrefix, d.WaitingSubjectPrefix)
	c.WaitingSubjectPrefix = strings.TrimSuffix(c.WaitingSubjectPrefix, ".")
	str(&c.IncomingPrefix, d.IncomingPrefix)
	str(&c.DeadLetterStream, d.DeadLetterStream)
	str(&c.DeadLetterSubjectPrefix, d.DeadLetterSubjectPrefix)
	c.DeadLetterSubjectPrefix = strings.TrimSuffix(c.DeadLetterSubjectPrefix, ".")
	str(&c.AsyncStream, d.AsyncStream)
	str(&c.AsyncSubjectPrefix, d.AsyncSubjectPrefix)
	c.AsyncSubjectPrefix = strings.TrimSuffix(c.AsyncSubjectPrefix, ".")
	str(&c.AsyncDurable, d.AsyncDurable)
	str(&c.ReportsStream, d.ReportsStream)
	str(&c.ReportsSubject, d.ReportsSubject)
	c.ReportsSubject = strings.TrimSuffix(c.ReportsSubject, ".")
	dur(&c.ReportsMaxAge, d.ReportsMaxAge)
	dur(&c.EventsMaxAge, d.EventsMaxAge)
	dur(&c.DeadLetterMaxAge, d.DeadLetterMaxAge)
	if c.StreamMaxBytes <= 0 {
		c.StreamMaxBytes = d.StreamMaxBytes
	}
	if c.WaitingMaxEvents <= 0 {
		c.WaitingMaxEvents = d.WaitingMaxEvents
	}
	dur(&c.SweepInterval, d.SweepInterval)
	dur(&c.SweepAge, d.SweepAge)
	str(&c.SweepBucket, d.SweepBucket)
	num(&c.JSReplicas, d.JSReplicas)
	num(&c.MaxAttempts, d.MaxAttempts)
	dur(&c.BackoffInitial, d.BackoffInitial)
	dur(&c.BackoffMax, d.BackoffMax)
	dur(&c.MaxRetryAfter, d.MaxRetryAfter)
	dur(&c.UnavailableDeadline, d.UnavailableDeadline)
	num(&c.MaxDeliveries, d.MaxDeliveries)
	dur(&c.AckWait, d.AckWait)
	dur(&c.RefreshInterval, d.RefreshInterval)
	dur(&c.InvokeTimeout, d.InvokeTimeout)
	num(&c.MaxConcurrent, d.MaxConcurrent)
	num(&c.MaxAckPending, d.MaxAckPending)
	dur(&c.FetchWait, d.FetchWait)
	dur(&c.ShutdownTimeout, d.ShutdownTimeout)
	num(&c.StreamMaxAckPending, d.StreamMaxAckPending)
	num(&c.StreamMaxBatchBytes, d.StreamMaxBatchBytes)
	num(&c.StreamMaxConcurrent, d.StreamMaxConcurrent)

	var errs []error
	if c.BackoffMax < c.BackoffInitial {
		errs = append(errs, fmt.Errorf("BackoffMax %s is below BackoffInitial %s", c.BackoffMax, c.BackoffInitial))
	}
	if c.MaxAckPending < c.MaxConcurrent {
		// Fewer outstanding messages than workers would idle workers.
		errs = append(errs, fmt.Errorf("MaxAckPending %d is below MaxConcurrent %d", c.MaxAckPending, c.MaxConcurrent))
	}
	if c.MaxDeliveries < c.MaxAttempts {
		errs = append(errs, fmt.Errorf("MaxDeliveries %d is below MaxAttempts %d", c.MaxDeliveries, c.MaxAttempts))
	}
	if c.StreamMaxAckPending < stream.MaxBatchSize {
		// A batch of the largest size must fit in what may be out.
		errs = append(errs, fmt.Errorf("StreamMaxAckPending %d is below the largest batch size %d", c.StreamMaxAckPending, stream.MaxBatchSize))
	}
	if strings.ContainsAny(c.ReportsSubject, "*> \t") {
		errs = append(errs, fmt.Errorf("ReportsSubject %q must be a literal subject", c.ReportsSubject))
	}
	if strings.ContainsAny(c.AsyncSubjectPrefix, "*> \t") {
		errs = append(errs, fmt.Errorf("AsyncSubjectPrefix %q must be a literal subject", c.AsyncSubjectPrefix))
	}
	if strings.ContainsAny(c.DeadLetterSubjectPrefix, "*> \t") {
		errs = append(errs, fmt.Errorf("DeadLetterSubjectPrefix %q must be a literal subject", c.DeadLetterSubjectPrefix))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("connector config: %w", err)
	}
	return c, nil
}
