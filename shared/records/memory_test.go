package records

import (
	"io"
	"runtime"
	"testing"
)

// TestBoundedMemory reads a large generated file, from a reader that makes
// it up as it goes, and checks that the heap stays small: the reader must
// stream, never hold the file.
func TestBoundedMemory(t *testing.T) {
	const rows = 200_000
	const limit = 64 << 20
	pl := compile(t, ecdcProfile(""))
	rd := pl.NewReader(newECDCStream(rows), "big.csv")
	var ms runtime.MemStats
	peak := uint64(0)
	n := 0
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rec.Err != nil {
			t.Fatalf("row %d: %v %v", n, err, rec.Err)
		}
		n++
		if n%20_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	st := rd.Stats()
	t.Logf("%d rows, %d MB read, peak heap in use %d MiB", n, st.Bytes/1e6, peak>>20)
	if peak > limit {
		t.Errorf("heap in use peaked at %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
}
