package streamingest

import (
	"errors"
	"strconv"
	"time"
)

// HeaderTenant is the request header naming the tenant whose stream the
// batch came from; it must agree with Batch.Tenant.
const HeaderTenant = "X-Mysimbdp-Tenant"

// Batch is what the connector POSTs to a tenant's stream ingest function:
// records pulled from the tenant's JetStream stream, in stream order.
type Batch struct {
	Tenant  string   `json:"tenant"`
	Records []Record `json:"records"`
}

// Record is one NATS message of the batch.
type Record struct {
	// ID identifies the record across redeliveries: see RecordID. Failures
	// are reported by it, and without a business key it is what makes the
	// document's _id.
	ID      string              `json:"id"`
	Subject string              `json:"subject"`
	Headers map[string][]string `json:"headers"`
	// Data is the message payload (base64 in JSON): one JSON object.
	Data        []byte    `json:"data"`
	PublishedAt time.Time `json:"published_at"`
}

// RecordID is the id the connector gives a message: the publisher's
// Nats-Msg-Id when it set one (so that a message published twice on
// purpose is one record), else <stream>:<stream sequence>, which is stable
// across redeliveries of the same stored message.
func RecordID(msgID, stream string, seq uint64) string {
	if msgID != "" {
		return msgID
	}
	return stream + ":" + strconv.FormatUint(seq, 10)
}

// Response is the function's 200 answer: AWS Lambda's partial batch
// response (SQS/Kinesis event sources) with a reason per failure. Records
// not listed are stored; BatchItemFailures is never null in JSON.
type Response struct {
	BatchItemFailures []ItemFailure `json:"batchItemFailures"`
}

// ItemFailure is one record the connector should retry and, after its last
// attempt, dead-letter with Reason.
type ItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
	// Reason is one line saying what was wrong, e.g.
	// `field cases: "abc" is not an int`.
	Reason string `json:"reason"`
}

// Errors a transport maps to its answers; any other error from Handle
// means the batch could not be stored at all and should be redelivered.
var (
	// ErrForbidden: the batch is another tenant's (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadBatch: the batch cannot be answered record by record, e.g. a
	// record has no id (HTTP 400).
	ErrBadBatch = errors.New("malformed batch")
)

// KindStream is WindowReport.Kind for stream ingestion, telling these
// reports from the batch app's on the same subject.
const KindStream = "stream"

// WindowReport is what an Ingester publishes every window to
// <report prefix>.<tenant> for the stats function, like the seed's
// clientstreamingestapp reported to its monitor. Messages, Bytes and
// Failures count deliveries: a record redelivered after a failure counts
// again in the window it came back in.
type WindowReport struct {
	Tenant      string    `json:"tenant"`
	Kind        string    `json:"kind"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// Messages is the number of records received, Bytes their payload
	// bytes, Failures those answered as failed (or in a batch that failed
	// as a whole).
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
	Failures int64 `json:"failures"`
	// Batches is the number of Handle calls; AvgIngestMS their average
	// duration in milliseconds.
	Batches     int64   `json:"batches"`
	AvgIngestMS float64 `json:"avg_ingest_ms"`
}
