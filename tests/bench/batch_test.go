package bench

import (
	"context"
	"os"
	"testing"
)

func TestProcStatus(t *testing.T) {
	hwm, err := procStatus(os.Getpid(), "VmHWM")
	if err != nil || hwm < 1<<20 {
		t.Fatalf("VmHWM of this process: %d, %v", hwm, err)
	}
}

// BenchmarkECDCParse is the in-process parse of generated ECDC data with
// tenant1's plan: the floor under the function's parse-and-batch rate.
func BenchmarkECDCParse(b *testing.B) {
	const size = 16 << 20
	b.SetBytes(size)
	var rows int
	for b.Loop() {
		n, _, _, err := parseOnly(context.Background(), Tenant1Profile("bench"), size)
		if err != nil {
			b.Fatal(err)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
