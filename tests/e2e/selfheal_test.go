package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// status runs `mysimbdp status --json` against the stack on f.
func status(t *testing.T, f upFlags) (localstack.Health, error) {
	t.Helper()
	out, err := runCLIOut(t, f, "status", "--json", "--data", f.data)
	var h localstack.Health
	if jerr := json.Unmarshal([]byte(out), &h); jerr != nil {
		return h, fmt.Errorf("status --json printed %q (%v): %w", out, err, jerr)
	}
	return h, err
}

func execCLI(t *testing.T, f upFlags, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(cli(t), args...)
	cmd.Env = append(os.Environ(), "MYSIMBDP_DATA="+f.data)
	return cmd
}

// runCLIOut is runCLI with stdout only, for output that is parsed.
func runCLIOut(t *testing.T, f upFlags, args ...string) (string, error) {
	t.Helper()
	cmd := execCLI(t, f, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), err
}

// rowSum is an order-independent checksum over the stored fields of
// tenant1's rows: the sum of each row's hash. With the count it tells
// "every row once, each as uploaded" from anything else.
type rowSum struct {
	n   int64
	sum uint64
}

func (s *rowSum) add(geoID, date string, cases, deaths int64, country string) {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d|%d|%s", geoID, date, cases, deaths, country))
	s.n++
	s.sum += binary.BigEndian.Uint64(h[:8])
}

// uploadedSum is the checksum of ecdc rows [from, to) as tenant1's
// profile stores them (dateRep d/m/yyyy becomes a date, summed as
// yyyy-mm-dd).
func uploadedSum(t *testing.T, from, to int) rowSum {
	t.Helper()
	var s rowSum
	for i := from; i < to; i++ {
		f := ecdc.Fields(i)
		d, err := time.Parse("2/01/2006", f["dateRep"].(string))
		if err != nil {
			t.Fatal(err)
		}
		s.add(f["geoId"].(string), d.Format(time.DateOnly), int64(f["cases"].(int)), int64(f["deaths"].(int)), f["countriesAndTerritories"].(string))
	}
	return s
}

func storedSum(ctx context.Context, c *mongo.Collection) (rowSum, error) {
	var s rowSum
	cur, err := c.Find(ctx, bson.D{})
	if err != nil {
		return s, err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var doc struct {
			GeoID   string    `bson:"geoId"`
			Date    time.Time `bson:"dateRep"`
			Cases   int64     `bson:"cases"`
			Deaths  int64     `bson:"deaths"`
			Country string    `bson:"countriesAndTerritories"`
		}
		if err := cur.Decode(&doc); err != nil {
			return s, err
		}
		s.add(doc.GeoID, doc.Date.UTC().Format(time.DateOnly), doc.Cases, doc.Deaths, doc.Country)
	}
	return s, cur.Err()
}

// TestMinIOKilledMidBurstComesBack SIGKILLs the MinIO server while a
// tenant uploads a burst of files: `up` starts it again on the same
// address and data (status says so), the uploads that failed meanwhile
// succeed on retry, the events of files acknowledged before the kill
// come through from MinIO's queue, and every row is stored exactly once,
// as uploaded.
func TestMinIOKilledMidBurstComesBack(t *testing.T) {
	f := newUpFlags(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	startUp(t, f)
	waitFor(t, "status says every part is up", time.Minute, func() error {
		_, err := status(t, f)
		return err
	})
	e := endpoints(t, f)
	creds, err := localstack.LoadOrCreateCredentials(f.data)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(e.MinIO, &minio.Options{Creds: credentials.NewStaticV4(creds.MinIOUser, creds.MinIOPassword, ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	db, err := mongo.Connect(options.Client().ApplyURI(e.MongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Disconnect(context.Background())

	// tenant1 reads 10 files a minute: 8 stay within its quota.
	const files, rows, killAfter = 8, 500, 3
	etags := map[string]string{}
	var killed int
	for i := range files {
		key := fmt.Sprintf("incoming/burst-%d.csv", i)
		body := ecdc.CSV(i*rows, (i+1)*rows)
		// A client retries an upload that failed while MinIO was down.
		waitFor(t, "upload "+key, 2*time.Minute, func() error {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			info, err := mc.PutObject(pctx, "tenant1", key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"})
			if err != nil {
				return err
			}
			etags[key] = strings.Trim(info.ETag, `"`)
			return nil
		})
		if i+1 == killAfter {
			killed = killMinIO(t, f)
		}
	}

	waitFor(t, "status says MinIO is back", 2*time.Minute, func() error {
		h, err := status(t, f)
		if err != nil {
			return err
		}
		p, _ := h.Part(localstack.PartMinIO)
		if !p.Up || p.Supervisor == nil || p.Supervisor.Restarts < 1 || p.Supervisor.Pid == killed || p.Supervisor.LastExit != "signal: killed" {
			return fmt.Errorf("minio: %+v", p)
		}
		return nil
	})

	ingestions := db.Database("tenant1").Collection(ingest.IngestionsCollection)
	waitFor(t, "every file's ingestion done", 5*time.Minute, func() error {
		var notDone []string
		for key, etag := range etags {
			var rec struct {
				Status string `bson:"status"`
				RowsOK int64  `bson:"rows_ok"`
			}
			err := ingestions.FindOne(ctx, bson.D{{Key: "tenant", Value: "tenant1"}, {Key: "key", Value: key}, {Key: "etag", Value: etag}}).Decode(&rec)
			if err != nil || rec.Status != "done" || rec.RowsOK != rows {
				notDone = append(notDone, fmt.Sprintf("%s: %+v %v", key, rec, err))
			}
		}
		if len(notDone) > 0 {
			return fmt.Errorf("not done: %v", notDone)
		}
		return nil
	})
	coll := db.Database("tenant1").Collection("covid_daily")
	want := uploadedSum(t, 0, files*rows)
	got, err := storedSum(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("stored %d rows with checksum %x; uploaded %d rows with checksum %x", got.n, got.sum, want.n, want.sum)
	}
	// Nothing was given up on.
	h, err := status(t, f)
	if err != nil {
		t.Fatalf("status after the burst: %v", err)
	}
	if p, _ := h.Part(localstack.PartMinIO); p.Supervisor.Restarts != 1 {
		t.Errorf("MinIO restarted %d times, want 1: %+v", p.Supervisor.Restarts, p)
	}
}

// killMinIO SIGKILLs the stack's MinIO server, as status reports it, and
// returns its pid.
func killMinIO(t *testing.T, f upFlags) int {
	t.Helper()
	h, err := status(t, f)
	if err != nil {
		t.Fatalf("status before the kill: %v", err)
	}
	p, ok := h.Part(localstack.PartMinIO)
	if !ok || p.Supervisor == nil || p.Supervisor.Pid == 0 {
		t.Fatalf("status shows no MinIO pid: %+v", h)
	}
	pid := p.Supervisor.Pid
	exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	if !strings.HasSuffix(exe, filepath.Join("bin", "minio")) {
		t.Fatalf("pid %d is %q, not the MinIO server", pid, exe)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pid
}
