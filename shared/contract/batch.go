package contract

import (
	"encoding/json"
	"strconv"
	"time"
)

// Batch is what the connector POSTs (with HeaderTenant) to a tenant's stream ingest function:
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
	// For a function deployed with AnnotationRecordEncoding
	// RecordEncodingJSON, a payload that is one JSON object comes as JSON
	// instead and Data is absent (nil); anything else still comes as Data.
	Data []byte `json:"data"`
	// JSON is the payload as it was published (less whitespace around
	// it), when it is one JSON object
	// and the function asked for RecordEncodingJSON: no base64 to encode
	// and decode, no third more bytes.
	JSON        json.RawMessage `json:"json,omitempty"`
	PublishedAt time.Time       `json:"published_at"`
}

// Payload is the record's payload whichever way it came: JSON when set,
// else Data.
func (r *Record) Payload() []byte {
	if len(r.JSON) > 0 {
		return r.JSON
	}
	return r.Data
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
	// Permanent says the record can never succeed (e.g. no dataset takes
	// its subject): the connector dead-letters it now, spending no
	// retries.
	Permanent bool `json:"permanent,omitempty"`
}
