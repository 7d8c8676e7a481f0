package function

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the function's GC settings apply unless the environment
// sets its own (GOGC, GOMEMLIMIT), which an operator may.
func TestTuneGC(t *testing.T) {
	const before, beforeLimit = 77, 3 << 30
	for _, tc := range []struct {
		name      string
		env       map[string]string
		wantGC    int
		wantLimit int64
	}{
		{"defaults", nil, gcPercent, memoryLimit},
		{"GOGC set", map[string]string{"GOGC": "77"}, before, memoryLimit},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "3GiB"}, gcPercent, beforeLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldGC, oldLimit := debug.SetGCPercent(before), debug.SetMemoryLimit(beforeLimit)
			tuneGC(func(k string) string { return tc.env[k] })
			gotGC, gotLimit := debug.SetGCPercent(oldGC), debug.SetMemoryLimit(oldLimit)
			if gotGC != tc.wantGC || gotLimit != tc.wantLimit {
				t.Errorf("GC percent %d, memory limit %d; want %d, %d", gotGC, gotLimit, tc.wantGC, tc.wantLimit)
			}
		})
	}
}
