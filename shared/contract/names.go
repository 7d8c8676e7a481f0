package contract

import "strings"

// Subjects, streams and consumers of the platform's NATS account.
const (
	// S3EventsSubject is where MinIO publishes every bucket notification;
	// S3EventsStream keeps them until the connector delivered them, to
	// the connector's shared durable consumer S3EventsDurable.
	S3EventsSubject = "mysimbdp.s3.events"
	S3EventsStream  = "S3EVENTS"
	S3EventsDurable = "mysimbdp-connector-s3"

	// WaitingStream keeps deferred S3 events as message schedules under
	// WaitingSubjectPrefix, out of the consumer every tenant shares.
	WaitingStream        = "S3WAITING"
	WaitingSubjectPrefix = "mysimbdp.s3.waiting"

	// SweepBucket is the KV bucket where the connector's sweep marks each
	// object version it announced again, so that it does so once.
	SweepBucket = "mysimbdp-sweep"
	// ConnectorS3User is the connector's own MinIO user on the local
	// platform, with policy ConnectorS3Policy: it may list buckets and
	// object names (the sweep), nothing more.
	ConnectorS3User   = "mysimbdp-connector"
	ConnectorS3Policy = "mysimbdp-connector-list"

	// DeadLetterStream keeps what the connector gave up on, under
	// DeadLetterSubjectPrefix.<tenant>.
	DeadLetterStream        = "DEADLETTER"
	DeadLetterSubjectPrefix = "mysimbdp.deadletter"

	// ReportsStream keeps the ingest functions' reports, published on
	// ReportSubjectPrefix.<tenant>.
	ReportsStream       = "REPORTS"
	ReportSubjectPrefix = "mysimbdp.reports"

	// TenantSubjectPrefix and TenantStreamPrefix name a tenant's records:
	// tenant t publishes on ingest.t.<dataset>, kept by stream ingest-t.
	TenantSubjectPrefix = "ingest"
	TenantStreamPrefix  = "ingest-"
	// StreamConsumerPrefix starts the name of the durable consumer the
	// connector keeps per stream function.
	StreamConsumerPrefix = "mysimbdp-stream-"

	// AsyncStream keeps the asynchronous invocations the gateway accepted
	// (POST /async-function/<name>), on AsyncSubjectPrefix.<name>.<namespace>,
	// until the connector's durable consumer AsyncDurable ran them.
	AsyncStream        = "ASYNC"
	AsyncSubjectPrefix = "mysimbdp.async"
	AsyncDurable       = "mysimbdp-connector-async"

	// NATSUsersControlSubject is the request subject on which the local
	// NATS server takes its users' and permissions' updates.
	NATSUsersControlSubject = "mysimbdp.admin.nats.users"
)

// TenantSubjects is every subject tenant t may publish records on.
func TenantSubjects(tenant string) string { return TenantSubjectPrefix + "." + tenant + ".>" }

// TenantSubjectPrefixOf is the prefix of tenant t's record subjects,
// ending in a dot.
func TenantSubjectPrefixOf(tenant string) string { return TenantSubjectPrefix + "." + tenant + "." }

// TenantStream is the name of tenant t's stream.
func TenantStream(tenant string) string { return TenantStreamPrefix + tenant }

// TenantOfStream is the tenant whose stream is named stream, if it is one.
func TenantOfStream(stream string) (string, bool) {
	t, ok := strings.CutPrefix(stream, TenantStreamPrefix)
	return t, ok && t != ""
}

// AsyncSubject is where an asynchronous invocation of function name in
// namespace is kept: function names and namespaces are DNS labels, so
// each is one subject token.
func AsyncSubject(name, namespace string) string {
	return AsyncSubjectPrefix + "." + name + "." + namespace
}

// ReportSubject is where tenant t's reports are published under prefix
// (ReportSubjectPrefix unless configured otherwise).
func ReportSubject(prefix, tenant string) string { return prefix + "." + tenant }

// DeadLetterSubject is where tenant t's dead letters go under prefix.
func DeadLetterSubject(prefix, tenant string) string { return prefix + "." + tenant }

// Consumer metadata keys: they tell which function and tenant a durable
// consumer serves (the scaler reads the backlog through them).
const (
	ConsumerFunctionKey = "mysimbdp.function"
	ConsumerTenantKey   = "mysimbdp.tenant"
)

// KV buckets and their keys.
const (
	// ControlBucket holds what the connector obeys: PausedKeyPrefix<t>
	// ("true" pauses tenant t's stream delivery) and QuotaKeyPrefix<t>
	// (the stats function's quota decision for t).
	ControlBucket   = "mysimbdp-control"
	PausedKeyPrefix = "paused."
	QuotaKeyPrefix  = "quota."
	// ProfileBucket holds every tenant's published profile, under its id.
	ProfileBucket = "mysimbdp-profiles"
	// ScheduleBucket claims each tick of a scheduled function, so a tick
	// fires once however many connectors run.
	ScheduleBucket = "mysimbdp-schedule"
	// ScalerBucket is the scaler's memory between passes.
	ScalerBucket = "mysimbdp-scaler"
)

// PausedKey is the control key of tenant t's pause flag.
func PausedKey(tenant string) string { return PausedKeyPrefix + tenant }

// QuotaKey is the control key of tenant t's quota decision.
func QuotaKey(tenant string) string { return QuotaKeyPrefix + tenant }

// Headers of an invocation by the connector.
const (
	// HeaderTopic is the subject or topic the event came from, as the
	// OpenFaaS connector-sdk sends it.
	HeaderTopic = "X-Topic"
	// HeaderTenant names the tenant whose event or batch it is; it must
	// agree with the body's tenant.
	HeaderTenant = "X-Mysimbdp-Tenant"
	// HeaderEventID identifies an S3 event across its deliveries.
	HeaderEventID = "X-Mysimbdp-Event-Id"
	// HeaderDelivery is the delivery count (1 on the first), so a
	// function can tell a retry from a first try in its logs.
	HeaderDelivery = "X-Mysimbdp-Delivery"
	// HeaderEventSource and HeaderCallID are what the Lambda adapter
	// passes to a handler: the event source (aws:sqs, aws:kinesis, aws:s3,
	// minio:s3, or passthrough) and the Lambda request id, as OpenFaaS
	// sends X-Call-Id.
	HeaderEventSource = "X-Mysimbdp-Event-Source"
	HeaderCallID      = "X-Call-Id"

	// HeaderCallbackURL, on an asynchronous invocation, is where its
	// answer is POSTed once it ran, with HeaderCallID,
	// HeaderFunctionStatus (the function's HTTP status) and
	// HeaderDurationSeconds, as OpenFaaS's queue-worker does.
	HeaderCallbackURL     = "X-Callback-Url"
	HeaderFunctionStatus  = "X-Function-Status"
	HeaderDurationSeconds = "X-Duration-Seconds"
	HeaderFunctionName    = "X-Function-Name"

	// HeaderOrigin marks an answer that the platform made instead of the
	// function, so that a caller can tell it from the function's own:
	// OriginRuntime is fnrun's (the handler ran past exec_timeout: a
	// failure of the invocation, not a deferral), OriginProvider the
	// provider's (no ready replica after the cold start, shutting down:
	// try later).
	HeaderOrigin = "X-Mysimbdp-Origin"

	// HeaderSignedAt and HeaderSignature sign an invocation (see
	// shared/invokesig): the Unix time it was signed at, in seconds, and
	// "v1=" and the hex HMAC-SHA256, with the function's invocation key,
	// of the method, the path the function sees, that time and the
	// body's SHA-256.
	HeaderSignedAt  = "X-Mysimbdp-Timestamp"
	HeaderSignature = "X-Mysimbdp-Signature"
	OriginRuntime   = "mysimbdp.fnrun"
	OriginProvider  = "mysimbdp.provider"
)

// Headers of a dead letter, a message of DeadLetterStream. Its body is
// the original message's body, unchanged, so that it can be replayed as
// it is. The S3 events flow also carries the first two on an event that
// waits, to remember where it was first stored.
const (
	DeadLetterHeaderSubject    = "Mysimbdp-Original-Subject"
	DeadLetterHeaderStream     = "Mysimbdp-Original-Stream"
	DeadLetterHeaderSeq        = "Mysimbdp-Stream-Seq"
	DeadLetterHeaderTenant     = "Mysimbdp-Tenant"
	DeadLetterHeaderFunction   = "Mysimbdp-Function"
	DeadLetterHeaderAttempts   = "Mysimbdp-Attempts"
	DeadLetterHeaderLastStatus = "Mysimbdp-Last-Status"
	DeadLetterHeaderReason     = "Mysimbdp-Reason"
	// DeadLetterHeaderRecordID is a stream record's id (Record.ID).
	DeadLetterHeaderRecordID = "Mysimbdp-Record-Id"
	// HeaderReplayOf marks a message republished from a dead letter; it
	// holds the dead letter's sequence in DeadLetterStream.
	HeaderReplayOf = "Mysimbdp-Replay-Of"
)

// Headers of an asynchronous invocation kept in AsyncStream (see
// AsyncCall): what the gateway knew of the request beyond its own
// headers. The gateway drops any a client sent itself.
const (
	AsyncHeaderPrefix    = "Mysimbdp-Async-"
	AsyncHeaderMethod    = "Mysimbdp-Async-Method"
	AsyncHeaderPath      = "Mysimbdp-Async-Path"
	AsyncHeaderQuery     = "Mysimbdp-Async-Query"
	AsyncHeaderFunction  = "Mysimbdp-Async-Function"
	AsyncHeaderNamespace = "Mysimbdp-Async-Namespace"
	AsyncHeaderTenant    = "Mysimbdp-Async-Tenant"
)

// Labels and annotations on a function.
const (
	// LabelTenant names the tenant a function belongs to; an event is
	// never handed to a function of another tenant.
	LabelTenant = "com.mysimbdp.tenant"
	// AnnotationTopic lists the topics a function subscribes to, as the
	// OpenFaaS connector-sdk reads it (comma-separated).
	AnnotationTopic = "topic"
	// AnnotationSchedule is a scheduled function's cron expression
	// (with AnnotationTopic = TopicCron), as OpenFaaS's cron-connector.
	AnnotationSchedule = "schedule"
	TopicCron          = "cron-function"
	// AnnotationBatchSize, AnnotationBatchWindow and AnnotationMaxInflight
	// shape a stream function's batches.
	AnnotationBatchSize   = "com.mysimbdp.batch-size"
	AnnotationBatchWindow = "com.mysimbdp.batch-window"
	AnnotationMaxInflight = "com.mysimbdp.max-inflight"
	// AnnotationRecordEncoding is how a stream function wants each
	// record's payload in the batch: RecordEncodingBase64 (the default:
	// Record.Data, base64 in JSON, any bytes) or RecordEncodingJSON
	// (Record.JSON, the payload as is, for every payload that is one JSON
	// object; any other payload still comes as Data).
	AnnotationRecordEncoding = "com.mysimbdp.record-encoding"
	RecordEncodingBase64     = "base64"
	RecordEncodingJSON       = "raw-json"
	// AnnotationMaxInflightFiles bounds the S3 events (files) one
	// function is handed at once, whatever its replicas (default
	// DefaultMaxInflightFiles): the store takes only so many concurrent
	// bulk writes.
	AnnotationMaxInflightFiles = "com.mysimbdp.max-inflight-files"
	DefaultMaxInflightFiles    = 2
	// AnnotationProfileDigest is the digest of the profile a tenant's
	// function was deployed with, so re-applying it changes nothing.
	AnnotationProfileDigest = "com.mysimbdp.profile-sha256"
	// AnnotationCredentialsDigest is the digest of the credentials secret
	// a function was deployed with, so that changed credentials restart
	// its replicas (which copy secrets when they start).
	AnnotationCredentialsDigest = "com.mysimbdp.credentials-sha256"

	// Scaling labels. OpenFaaS itself honours min and max (faas-netes
	// starts min replicas, OpenFaaS Pro's autoscaler keeps within them),
	// so they keep OpenFaaS's names; the others only mysimbdp's scaler
	// reads, and carry our own names so that OpenFaaS Pro's autoscaler
	// (which reads com.openfaas.scale.target and .zero) does not set the
	// same replicas too.
	LabelScalePrefix        = "com.openfaas.scale."
	LabelScaleOwnPrefix     = "com.mysimbdp.scale."
	LabelScaleMin           = "com.openfaas.scale.min"
	LabelScaleMax           = "com.openfaas.scale.max"
	LabelScaleTarget        = "com.mysimbdp.scale.target"
	LabelScaleZero          = "com.mysimbdp.scale.zero"
	LabelScaleZeroDuration  = "com.mysimbdp.scale.zero-duration"
	LabelScaleStabilization = "com.mysimbdp.scale.stabilization"
)

// Prometheus series the provider serves on /metrics that other parts
// read. The scaler judges a function idle only while
// MetricFunctionInflight, its invocations in flight (by
// MetricLabelFunction, "name.namespace"), stays zero; where the gauge is
// absent (a gateway that does not serve it) it takes
// MetricFunctionStarted minus MetricFunctionInvocations, the OpenFaaS
// gateway's own counters of invocations started and finished.
const (
	MetricFunctionInflight    = "gateway_function_invocation_inflight"
	MetricFunctionStarted     = "gateway_function_invocation_started"
	MetricFunctionInvocations = "gateway_function_invocation_total"
	MetricLabelFunction       = "function_name"
)

// QueryScaleForceStop, set to "true" on POST
// /system/scale-function/{name}, lets the local provider stop a replica
// that is still working once its drain bound has passed; without it a
// busy replica leaving the pool is stopped only when it is idle, so that
// scaling never cuts an invocation short. (faas-cli does not send it.)
const QueryScaleForceStop = "force-stop"

// DeprecatedScaleLabels maps each old name of a scaler-only label to the
// name that replaced it. The scaler still reads an old name (the new one
// wins when both are set) and logs that it did.
func DeprecatedScaleLabels() map[string]string {
	return map[string]string{
		LabelScalePrefix + "target":        LabelScaleTarget,
		LabelScalePrefix + "zero":          LabelScaleZero,
		LabelScalePrefix + "zero-duration": LabelScaleZeroDuration,
	}
}

// OpenFaaS secrets the platform's functions read.
const (
	SecretGatewayUser     = "basic-auth-user"
	SecretGatewayPassword = "basic-auth-password"
	// DefaultSecretsDir is where OpenFaaS mounts a function's secrets.
	DefaultSecretsDir = "/var/openfaas/secrets"
)

// ProfileSecret is the name of the secret holding tenant t's profile.
func ProfileSecret(tenant string) string { return tenant + "-profile" }

// CredentialsSecret is the name of the secret holding the credentials
// tenant t's functions use (its S3 keys, the NATS and MongoDB URLs with
// their passwords), as EnvCredentialsSecret describes.
func CredentialsSecret(tenant string) string { return tenant + "-credentials" }

// InvokeMasterKeySecret is the secret file that holds the platform's
// invocation master key, which only the callers of functions (the
// connector, the CLI on the local platform) have: from it they derive
// each function's own key (shared/invokesig.FunctionKey), which the
// function gets as secret InvokeKeySecret(function).
const InvokeMasterKeySecret = "mysimbdp-invoke-master-key"

// StatsFunction is the platform's stats function (stack.yml): the
// connector delivers it the reports, and a tenant's stats token derives
// from its invocation key (shared/stats.TenantToken).
const StatsFunction = "stats"

// InvokeKeySecret is the name of the secret holding function fn's
// invocation key, named by the function's EnvInvokeKeySecret.
func InvokeKeySecret(fn string) string { return fn + "-invoke-key" }

// PlatformCredentialsSecret holds the credentials of the platform's own
// functions (stats, scaler), in the same form.
const PlatformCredentialsSecret = "mysimbdp-credentials"

// TLSCASecret is the secret holding the platform's CA certificate (PEM)
// when its parts serve TLS; functions that trust it are given it and
// EnvTLSCAFile naming it.
const TLSCASecret = "mysimbdp-tls-ca"
