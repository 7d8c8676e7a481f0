package records

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

const benchRows = 20_000

func benchParse(b *testing.B, name string, data []byte) {
	pl := compile(b, ecdcProfile(""))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	rows := 0
	for b.Loop() {
		rd := pl.NewReader(bytes.NewReader(data), name)
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil || rec.Err != nil {
				b.Fatal(err, rec.Err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

// BenchmarkParseCSV parses a generated ECDC-shaped CSV file into documents.
func BenchmarkParseCSV(b *testing.B) {
	data, err := io.ReadAll(newECDCStream(benchRows))
	if err != nil {
		b.Fatal(err)
	}
	benchParse(b, "ecdc.csv", data)
}

// BenchmarkParseNDJSON parses the same rows as NDJSON.
func BenchmarkParseNDJSON(b *testing.B) {
	var buf bytes.Buffer
	cols := strings.Split(ecdcHeader, ",")
	pl := compile(b, ecdcProfile(""))
	rd := pl.NewReader(newECDCStream(benchRows), "ecdc.csv")
	enc := json.NewEncoder(&buf)
	for {
		_, err := rd.Next()
		if err != nil {
			break
		}
		// Re-encode the raw CSV fields, as text, keyed by column.
		obj := map[string]string{}
		for i, f := range rd.src.(*csvSource).fs {
			obj[cols[i]] = f
		}
		if err := enc.Encode(obj); err != nil {
			b.Fatal(err)
		}
	}
	benchParse(b, "ecdc.ndjson", buf.Bytes())
}
