package ecdc

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

func TestCSVHasTheQuirksAndParses(t *testing.T) {
	b := CSV(0, 60)
	if !bytes.HasPrefix(b, []byte("\ufeff"+Header+"\r\n")) {
		t.Fatal("no BOM + header + CRLF")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff"))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 61 {
		t.Fatalf("%d records, want header + 60", len(rows))
	}
	keys := map[string]bool{}
	var negative, emptyPop, comma, nonASCII bool
	for _, row := range rows[1:] {
		if len(row) != 11 {
			t.Fatalf("row %v has %d fields", row, len(row))
		}
		keys[row[7]+"|"+row[0]] = true
		negative = negative || strings.HasPrefix(row[4], "-")
		emptyPop = emptyPop || row[9] == ""
		comma = comma || strings.Contains(row[6], ",")
		nonASCII = nonASCII || strings.ContainsAny(row[6], "çô’")
	}
	if len(keys) != 60 || !negative || !emptyPop || !comma || !nonASCII {
		t.Fatalf("distinct keys %d, negative %v, empty population %v, quoted comma %v, non-ASCII %v", len(keys), negative, emptyPop, comma, nonASCII)
	}
}

func TestReaderStreamsTheSameBytesAsCSV(t *testing.T) {
	got, err := io.ReadAll(NewReader(5, 500, Options{}))
	if err != nil || !bytes.Equal(got, CSV(5, 500)) {
		t.Fatalf("reader and CSV differ (%v)", err)
	}
}

func TestJSONMatchesRow(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal(JSON(1), &m); err != nil {
		t.Fatal(err)
	}
	if m["countriesAndTerritories"] != "Bonaire, Saint Eustatius and Saba" || !strings.HasPrefix(Row(1), m["dateRep"].(string)+",") || m["day"] != "6" {
		t.Fatalf("JSON(1) = %v, Row(1) = %s", m, Row(1))
	}
}

func TestSizedReaderAndDateCycles(t *testing.T) {
	r := NewSizedReader(1 << 20)
	n, err := io.Copy(io.Discard, r)
	if err != nil || n < 1<<20 || n > 1<<20+200 {
		t.Fatalf("sized reader gave %d bytes (%v), want just over 1 MiB", n, err)
	}
	first, wrapped := Row(0), Row(6*cycleDays)
	if !strings.HasPrefix(first, "6/07/2020,") || !strings.HasPrefix(wrapped, "6/07/2020,") || !strings.Contains(wrapped, ",AF1,") {
		t.Fatalf("row 0 %q and the first row of cycle 1 %q: want the same date, a numbered geoId", first, wrapped)
	}
}

// The profiles must parse, and must stay the demo tenants' shapes.
func TestProfilesMatchTheDemoTenants(t *testing.T) {
	for _, tt := range []struct {
		shape Shape
		file  string
	}{{SourceNames, "../../tenants/tenant1.yaml"}, {SnakeCase, "../../tenants/tenant2.yaml"}} {
		p, err := profile.Parse([]byte(Profile("acme", tt.shape, "batch:\n  max_files_per_window: 3\n")), "test")
		if err != nil {
			t.Fatal(err)
		}
		demo, err := profile.Load(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if p.Batch.MaxFilesPerWindow != 3 || !reflect.DeepEqual(p.Sink.Schema, demo.Sink.Schema) ||
			!reflect.DeepEqual(p.Sink.Key, demo.Sink.Key) || !reflect.DeepEqual(p.Wrangling, demo.Wrangling) ||
			p.Sink.Collection != demo.Sink.Collection || p.Sink.UnknownFields != demo.Sink.UnknownFields {
			t.Errorf("%s: profile shape differs from the demo tenant's", tt.file)
		}
	}
}

func TestCorrectedFileChangesOnlyEveryNthRow(t *testing.T) {
	got, err := io.ReadAll(NewReader(0, 1000, Options{Correct: 100}))
	if err != nil {
		t.Fatal(err)
	}
	orig := strings.Split(string(CSV(0, 1000)), "\r\n")
	lines := strings.Split(string(got), "\r\n")
	if len(lines) != len(orig) {
		t.Fatalf("%d lines, want %d", len(lines), len(orig))
	}
	changed := 0
	for n := range lines {
		if lines[n] == orig[n] {
			continue
		}
		changed++
		i := n - 1 // line 0 is the header
		f, o := strings.Split(lines[n], ","), strings.Split(orig[n], ",")
		if i%100 != 0 || f[5] != strconv.Itoa(i%13+1) || o[5] != strconv.Itoa(i%13) || f[7] != o[7] || f[0] != o[0] {
			t.Errorf("row %d: %q, was %q: want only deaths one higher, in every 100th row", i, lines[n], orig[n])
		}
	}
	if changed != 10 {
		t.Fatalf("%d rows changed, want 10 of 1000", changed)
	}
}
