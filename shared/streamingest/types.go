package streamingest

import (
	"errors"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// The wire types of a stream batch live in shared/streambatch, which links
// nothing else, so that the Lambda adapter (in every function binary) can
// speak them; they are this package's too.
const HeaderTenant = contract.HeaderTenant

type (
	Batch       = contract.Batch
	Record      = contract.Record
	Response    = contract.Response
	ItemFailure = contract.ItemFailure
)

// RecordID is contract.RecordID.
func RecordID(msgID, stream string, seq uint64) string {
	return contract.RecordID(msgID, stream, seq)
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
