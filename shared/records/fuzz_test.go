package records

import (
	"bytes"
	"io"
	"testing"
)

// FuzzCSV checks that no input makes the reader panic or loop, and that
// every record is either a document or a rejection, with a line number.
func FuzzCSV(f *testing.F) {
	q := ecdcQuirks()
	for _, s := range []string{
		ecdcFile(q...),
		ecdcFile(q[0], `6/07/2020,6,7,2020,0,0,"Bonaire, Saint,BQ,BES,25983,America`, q[2]),
		ecdcFile(q[0], `x,"a""b",`+"\"\r\n\"", q[1]),
		ecdcHeader + "\n" + `"` + "\n\"\"\n",
		"",
		"\ufeff",
		"\x1f\x8b\x08\x00",
		"\x00\xff\xfe\"\r\r\n,,,\n",
	} {
		f.Add([]byte(s))
	}
	pl := compile(f, ecdcProfile(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, header := range []bool{true, false} {
			p := *pl
			p.header = header
			p.maxRecord = 256 // small, so the fuzzer reaches the limits
			rd := p.NewReader(bytes.NewReader(data), "fuzz.csv")
			for i := 0; ; i++ {
				if i > len(data)+2 {
					t.Fatalf("more records (%d) than the input has bytes (%d)", i, len(data))
				}
				rec, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					break // a file-level error is a clear outcome
				}
				if rec.Line < 1 {
					t.Fatalf("record without a line number: %+v", rec)
				}
				if (rec.Doc == nil) == (rec.Err == nil) {
					t.Fatalf("record is neither or both a document and a rejection: %+v", rec)
				}
				if rec.Err != nil && (rec.Err.Line != rec.Line || rec.Err.Reason == "" || len(rec.Err.Raw) > MaxRaw+4) {
					t.Fatalf("bad rejection: %+v", rec.Err)
				}
			}
		}
	})
}
