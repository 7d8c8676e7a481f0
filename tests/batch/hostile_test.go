package batch

import (
	"bytes"
	"compress/gzip"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// gzipOf compresses data at the best level: a run of identical rows
// shrinks about a thousand times.
func gzipOf(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Files built to exhaust a replica or the database are refused as files,
// with a reason a tenant can act on, after little was read; the limits are
// on what is read (decompressed), not only on what was uploaded.
func TestHostileFilesAreRefusedEarly(t *testing.T) {
	const tenant = "hostile"
	// ECDC rows gzip about 13.6 to one: a ratio limit of 10 stands for a
	// bomb against the default of 100, with rows whose keys differ.
	b := newBatch(t, tenant1Profile(tenant, `  max_file_size: 16MiB
  max_gzip_ratio: 10
  max_files_per_window: 100
  window: 1m
  formats: [csv, json]`))
	// ~14 MB inflated from ~1 MB each, with keys of their own.
	bomb, over := gzipOf(t, ecdc.CSV(0, 200_000)), gzipOf(t, ecdc.CSV(200_000, 400_000))
	// One element of 6 MiB: past what the reader holds for one (4 MiB).
	huge := []byte("[" + string(ecdc.JSON(7)) + `,{"pad":"` + strings.Repeat("x", 6<<20) + `"}]`)
	// One element of 50 MB in a gzip file of a few tens of kilobytes.
	fifty := gzipOf(t, []byte("["+string(ecdc.JSON(8))+`,{"pad":"`+strings.Repeat("x", 50<<20)+`"}]`))

	for _, tc := range []struct {
		name, key string
		data      []byte
		reason    string
		maxOK     int64
	}{
		{name: "gzip file over its ratio", key: "bomb.csv.gz", data: bomb,
			reason: "gzip file inflates more than batch.max_gzip_ratio allows", maxOK: (1<<20 + 256<<10) / 60},
		{name: "small upload, too large once decompressed", key: "over.csv.gz", data: over,
			reason: "file is larger than batch.max_file_size (4MiB), decompressed", maxOK: 4 << 20 / 60},
		{name: "one JSON element of 6 MiB", key: "huge.json", data: huge,
			reason: "record is larger than batch.max_record_size (1MiB): element 2", maxOK: 1},
		{name: "one JSON element of 50 MB in a small gzip", key: "fifty.json.gz", data: fifty,
			reason: "gzip file inflates more than batch.max_gzip_ratio allows", maxOK: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "incoming/" + tc.key
			bb := b
			if tc.key == "over.csv.gz" { // the same file with the default ratio
				bb = newBatch(t, tenant1Profile(tenant, "  max_file_size: 4MiB\n  max_files_per_window: 100\n  window: 1m"))
			}
			before := count(t, tenant, "covid_daily", nil)
			rep := handle(t, bb, put(t, tenant, key, tc.data))
			if rep.Status != contract.StatusRejected || !strings.Contains(rep.Error, tc.reason) {
				t.Fatalf("report %s: %q, want rejected saying %q", rep.Status, rep.Error, tc.reason)
			}
			if rep.RowsOK > tc.maxOK {
				t.Errorf("%d rows read before the refusal, want at most %d", rep.RowsOK, tc.maxOK)
			}
			// What was read before the refusal is stored, and said so.
			if added, fresh := count(t, tenant, "covid_daily", nil)-before, rep.RowsOK-rep.RowsUnchanged-rep.RowsReplaced; added != fresh {
				t.Errorf("%d new rows stored, the report says %d (%d ok, %d unchanged, %d replaced)", added, fresh, rep.RowsOK, rep.RowsUnchanged, rep.RowsReplaced)
			}
			if rep.RowsOK > 0 && !strings.Contains(rep.Error, "rows before it were stored") {
				t.Errorf("report %q does not say the rows before the refusal were stored", rep.Error)
			}
			if dst := ingest.Destination(key, rep.Status); exists(t, tenant, key) || !exists(t, tenant, dst) {
				t.Errorf("%s not moved to %s", key, dst)
			}
		})
	}
}

// A file that repeats a key many times — a log of corrections, or a
// hostile one — stores it once, with its last row.
func TestRepeatedKeysInOneFileLastWins(t *testing.T) {
	const tenant = "repeats"
	b := newBatch(t, tenant1Profile(tenant, defaultLimits))
	// Rows without a quoted comma; one hot key, as in a bomb of one row.
	keys := []int{0}
	var csv strings.Builder
	csv.WriteString(ecdc.Header + "\r\n")
	const rounds = 3000
	for r := range rounds {
		for _, i := range keys {
			f := strings.Split(ecdc.Row(i), ",")
			f[4] = strconv.Itoa(r) // cases: the round, so the last round must win
			csv.WriteString(strings.Join(f, ",") + "\r\n")
		}
	}
	rep := handle(t, b, put(t, tenant, "incoming/corrections.csv", []byte(csv.String())))
	if rep.Status != contract.StatusDone || rep.RowsOK != int64(rounds*len(keys)) {
		t.Fatalf("report %s with %d rows ok: %s; want done with %d", rep.Status, rep.RowsOK, rep.Error, rounds*len(keys))
	}
	if n := count(t, tenant, "covid_daily", nil); n != int64(len(keys)) {
		t.Fatalf("%d documents, want %d: one per key", n, len(keys))
	}
	if n := count(t, tenant, "covid_daily", bson.D{{Key: "cases", Value: rounds - 1}}); n != int64(len(keys)) {
		t.Errorf("%d documents hold the last round's cases (%d), want all %d", n, rounds-1, len(keys))
	}
}
