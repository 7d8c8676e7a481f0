package streamingest

import "errors"

// Errors a transport maps to its answers; any other error from Handle
// means the batch could not be stored at all and should be redelivered.
var (
	// ErrForbidden: the batch is another tenant's (HTTP 403).
	ErrForbidden = errors.New("forbidden")
	// ErrBadBatch: the batch cannot be answered record by record, e.g. a
	// record has no id (HTTP 400).
	ErrBadBatch = errors.New("malformed batch")
)
