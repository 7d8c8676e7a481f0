package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

func TestTransientAndUnavailable(t *testing.T) {
	busy := mongo.CommandError{Code: 1, Name: "InternalError",
		Message: "[collection.go:135 sqlite.(*collection).InsertAll.func1] database is locked (5) (SQLITE_BUSY)"}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	for _, tt := range []struct {
		name                   string
		err                    error
		transient, unavailable bool
	}{
		{"SQLITE_BUSY", fmt.Errorf("insert 1000 documents into covid_daily: %w", busy), true, true},
		{"no server", topology.ServerSelectionError{Wrapped: refused}, false, true},
		{"connection refused (S3)", fmt.Errorf("stat s3://b/k: %w", refused), false, true},
		{"duplicate key", mongo.CommandError{Code: 11000, Message: "E11000 duplicate key"}, false, false},
		{"the attempt's time ran out", fmt.Errorf("write: %w", context.DeadlineExceeded), false, false},
		{"cancelled while busy", fmt.Errorf("%w: %w", busy, context.Canceled), false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.transient {
				t.Errorf("transient = %v, want %v", got, tt.transient)
			}
			if got := unavailable(tt.err); got != tt.unavailable {
				t.Errorf("unavailable = %v, want %v", got, tt.unavailable)
			}
		})
	}
}
