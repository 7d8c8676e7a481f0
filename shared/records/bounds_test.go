package records

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// gzipStream compresses what r yields, as it is read: a file of any size
// without holding it.
func gzipStream(t testing.TB, r io.Reader) io.Reader {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestCompression)
		_, err := io.Copy(zw, r)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() { pr.Close() })
	return pr
}

// repeated is a CSV file of n copies of one valid row: it compresses
// about a thousand to one, as a decompression bomb does.
func repeated(n int) io.Reader {
	return io.MultiReader(strings.NewReader(ecdc.Header+"\r\n"), &repeatReader{row: []byte(ecdc.Row(0) + "\r\n"), n: n})
}

// repeatReader yields row n times without holding them.
type repeatReader struct {
	row    []byte
	n, off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	w := 0
	for w < len(p) && r.n > 0 {
		c := copy(p[w:], r.row[r.off:])
		w += c
		if r.off += c; r.off == len(r.row) {
			r.off, r.n = 0, r.n-1
		}
	}
	if w == 0 {
		return 0, io.EOF
	}
	return w, nil
}

// The limits apply to what is read, not only to what was uploaded: a
// small gzip file cannot expand past max_file_size or past its ratio, and
// one JSON element cannot take more memory than max_record_size allows.
func TestReadingIsBounded(t *testing.T) {
	big := strings.Repeat("x", 3<<20) // over 1 MiB, under the decoder's hard bound of 4 MiB
	huge := strings.Repeat("x", 12<<20)
	tests := []struct {
		name, profile, object string
		input                 func(t testing.TB) io.Reader
		// maxGood bounds the good rows read before the file is refused.
		minGood, maxGood int
		rejected         []string
		err              error
		errText          string
	}{
		{
			name: "gzip bomb of valid rows stops at its ratio", profile: "batch:\n  max_gzip_ratio: 50\n", object: "bomb.csv.gz",
			input:   func(t testing.TB) io.Reader { return gzipStream(t, repeated(2_000_000)) }, // ~130 MB inflated
			minGood: 1, maxGood: (ratioGrace + 2*bufSize) / 60, err: ErrInflates, errText: "over 50 times",
		},
		{
			name: "decompressed bytes count against max_file_size", profile: "batch:\n  max_file_size: 2MB\n", object: "big.csv.gz",
			input:   func(t testing.TB) io.Reader { return gzipStream(t, ecdc.NewReader(0, 100_000, ecdc.Options{})) }, // ~7 MB inflated
			minGood: 20_000, maxGood: 2_000_000 / 60, err: ErrTooLarge, errText: "(2MB), decompressed",
		},
		{
			name: "an ordinary gzip file is read whole", object: "ok.csv.gz",
			input:   func(t testing.TB) io.Reader { return gzipStream(t, ecdc.NewReader(0, 50_000, ecdc.Options{})) },
			minGood: 50_000, maxGood: 50_000,
		},
		{
			name: "an element over max_record_size is a bad row", object: "x.json",
			input: func(testing.TB) io.Reader {
				return strings.NewReader("[" + afJSON + `,{"pad":"` + big + `"},` + afJSON + "]")
			},
			minGood: 2, maxGood: 2, rejected: []string{"element 2: element is longer than 1048576 bytes (batch.max_record_size)"},
		},
		{
			name: "an element far over max_record_size ends the file", object: "x.json",
			input: func(testing.TB) io.Reader {
				return strings.NewReader("[" + afJSON + `,{"pad":"` + huge + `"},` + afJSON + "]")
			},
			minGood: 1, maxGood: 1, err: ErrRecordTooLarge, errText: "(1MiB): element 2; a JSON array cannot be read past it",
		},
		{
			name: "max_record_size is the profile's", profile: "batch:\n  max_record_size: 4KiB\n", object: "x.json",
			input: func(testing.TB) io.Reader {
				return strings.NewReader("[" + afJSON + `,{"pad":"` + strings.Repeat("y", 5000) + `"}]`)
			},
			minGood: 1, maxGood: 1, rejected: []string{"element 2: element is longer than 4096 bytes"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := compile(t, ecdcProfile(tt.profile))
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			good, bad, err := readAll(t, pl.NewReader(tt.input(t), tt.object))
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if len(good) < tt.minGood || len(good) > tt.maxGood {
				t.Errorf("%d good rows, want %d to %d", len(good), tt.minGood, tt.maxGood)
			}
			var reasons []string
			for _, b := range bad {
				reasons = append(reasons, b.Error())
			}
			if len(reasons) != len(tt.rejected) {
				t.Errorf("rejected %q, want %q", reasons, tt.rejected)
			}
			for i := range min(len(reasons), len(tt.rejected)) {
				if !strings.Contains(reasons[i], tt.rejected[i]) {
					t.Errorf("rejected[%d] = %q, want it to say %q", i, reasons[i], tt.rejected[i])
				}
			}
			if (tt.err == nil) != (err == nil) || tt.err != nil && (!errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("err = %v, want %v saying %q", err, tt.err, tt.errText)
			}
			// Whatever came in, the reading took a few megabytes at most
			// (the rows read are held by the test, ~1 KB each).
			if grew := int64(after.TotalAlloc-before.TotalAlloc) - int64(len(good))*2048; grew > 64<<20 {
				t.Errorf("reading allocated %d MiB beyond its rows", grew>>20)
			}
		})
	}
}

// fill yields n bytes of c without holding them.
func fill(c byte, n int) io.Reader {
	return &repeatReader{row: bytes.Repeat([]byte{c}, 64<<10), n: n / (64 << 10)}
}

// One record of 50 MB, gzip-compressed to a few tens of kilobytes, is
// what a replica would hold whole if nothing bounded it: each format
// refuses it, as a bad row where the framing lets reading go on (a CSV or
// NDJSON line), as the file's end where it does not (a JSON element), and
// the reading allocates a few megabytes whatever the record's size.
func TestFiftyMegabyteRecordInASmallGzip(t *testing.T) {
	const size = 50 << 20
	csvRow := ecdc.Row(0) + "\r\n"
	// The ratio is lifted in most cases so that the record bound, not the
	// ratio, is what stops the record.
	lifted := "batch:\n  max_gzip_ratio: 1000000\n  formats: [csv, json, ndjson]\n  gzip: true\n"
	tests := []struct {
		name, profile, object string
		parts                 []io.Reader
		good                  int
		rejected              string
		err                   error
		errText               string
	}{
		{
			name: "JSON element", profile: lifted, object: "one.json.gz",
			parts: []io.Reader{strings.NewReader("[" + afJSON + `,{"pad":"`), fill('x', size), strings.NewReader(`"},` + afJSON + "]")},
			good:  1, err: ErrRecordTooLarge, errText: "(1MiB): element 2; a JSON array cannot be read past it",
		},
		{
			name: "JSON element, default ratio", profile: "batch:\n  gzip: true\n  formats: [csv, json]\n", object: "one.json.gz",
			parts: []io.Reader{strings.NewReader("[" + afJSON + `,{"pad":"`), fill('x', size), strings.NewReader(`"},` + afJSON + "]")},
			good:  1, err: ErrInflates, errText: "over 100 times",
		},
		{
			name: "CSV line", profile: lifted, object: "one.csv.gz",
			parts: []io.Reader{strings.NewReader(ecdc.Header + "\r\n" + csvRow), fill('x', size), strings.NewReader("\r\n" + csvRow)},
			good:  2, rejected: "line 3: line is longer than 1048576 bytes",
		},
		{
			name: "NDJSON line", profile: lifted, object: "one.ndjson.gz",
			parts: []io.Reader{strings.NewReader(afJSON + "\n" + `{"pad":"`), fill('x', size), strings.NewReader("\"}\n" + afJSON + "\n")},
			good:  2, rejected: "line 2: line is longer than 1048576 bytes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := compile(t, ecdcProfile(tt.profile))
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			good, bad, err := readAll(t, pl.NewReader(gzipStream(t, io.MultiReader(tt.parts...)), tt.object))
			runtime.ReadMemStats(&after)
			if len(good) != tt.good {
				t.Errorf("%d good rows, want %d", len(good), tt.good)
			}
			switch {
			case tt.rejected == "" && len(bad) > 0:
				t.Errorf("rejected %v, want none", bad)
			case tt.rejected != "" && (len(bad) != 1 || !strings.Contains(bad[0].Error(), tt.rejected)):
				t.Errorf("rejected %v, want one row saying %q", bad, tt.rejected)
			case len(bad) == 1 && len(bad[0].Raw) > 64<<10:
				t.Errorf("the rejected row keeps %d bytes of raw text", len(bad[0].Raw))
			}
			if (tt.err == nil) != (err == nil) || tt.err != nil && (!errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText)) {
				t.Errorf("err = %v, want %v saying %q", err, tt.err, tt.errText)
			}
			// Allocated while reading, the compressor's buffers included:
			// a fraction of the record, so the record was never held.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 24<<20 {
				t.Errorf("reading allocated %d MiB for a %d MiB record", grew>>20, size>>20)
			}
			t.Logf("allocated %d KiB; heap in use %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10, after.HeapInuse>>10)
		})
	}
}
