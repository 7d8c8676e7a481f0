package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/local/ferret"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/infra/local/minioserver"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/records"
)

// SeedRowsPerFile is the row count of the seed system's 4.3 MB ECDC file.
const SeedRowsPerFile = 60_000

// The seed system's figures for its workload (2 tenants × 5 files of
// 4.3 MB), printed beside ours.
const (
	SeedWall    = 2 * time.Minute
	SeedPerFile = 46 * time.Second
)

// BatchFunction is the stack function whose binary the huge-file run uses.
const BatchFunction = "tenant1-batch-ingest"

// BatchRig is the platform's data path with nothing else: a MinIO child
// process, an embedded FerretDB and an embedded NATS (the reports'
// destination), each with its own folder under Dir, and clients of them.
type BatchRig struct {
	Dir                        string
	S3Endpoint, S3User, S3Pass string
	MongoURI, NATSURL          string
	S3                         *minio.Client
	DB                         *mongo.Client

	repo   string
	minio  *minioserver.Server
	ferret *ferret.Server
	nats   *natsd.Server
}

// StartBatchRig starts MinIO (<repo>/bin/minio), FerretDB and NATS with
// their data under dir.
func StartBatchRig(ctx context.Context, repo, dir string) (_ *BatchRig, err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	r := &BatchRig{Dir: dir, repo: repo}
	defer func() {
		if err != nil {
			r.Close(context.Background())
		}
	}()
	r.minio, err = minioserver.Start(ctx, minioserver.Config{
		Binary: filepath.Join(repo, "bin", "minio"), DataDir: filepath.Join(dir, "minio"),
	}, log)
	if err != nil {
		return nil, fmt.Errorf("start MinIO (built by scripts/setup): %w", err)
	}
	r.ferret, err = ferret.Start(ctx, ferret.Config{DataDir: filepath.Join(dir, "ferret")}, log)
	if err != nil {
		return nil, fmt.Errorf("start FerretDB: %w", err)
	}
	r.nats, err = natsd.Start(ctx, natsd.Config{StoreDir: filepath.Join(dir, "nats")}, log)
	if err != nil {
		return nil, fmt.Errorf("start NATS: %w", err)
	}
	r.S3Endpoint, r.S3User, r.S3Pass = r.minio.Endpoint(), r.minio.RootUser(), r.minio.RootPassword()
	r.MongoURI, r.NATSURL = r.ferret.URI(), r.nats.ClientURL()
	r.S3, err = minio.New(r.S3Endpoint, &minio.Options{Creds: credentials.NewStaticV4(r.S3User, r.S3Pass, "")})
	if err != nil {
		return nil, fmt.Errorf("S3 client: %w", err)
	}
	r.DB, err = mongo.Connect(options.Client().ApplyURI(r.MongoURI))
	if err != nil {
		return nil, fmt.Errorf("MongoDB client: %w", err)
	}
	return r, nil
}

// Close stops everything the rig started, the database client before the
// database.
func (r *BatchRig) Close(ctx context.Context) {
	if r.DB != nil {
		_ = r.DB.Disconnect(ctx)
	}
	if r.nats != nil {
		r.nats.Shutdown()
	}
	if r.ferret != nil {
		r.ferret.Stop()
	}
	if r.minio != nil {
		_ = r.minio.Stop(ctx)
	}
}

// Env is the ingest environment a deployed batch function gets, for
// tenant's profile.
func (r *BatchRig) Env(profileYAML string) map[string]string {
	return map[string]string{
		"MYSIMBDP_PROFILE":       profileYAML,
		"MYSIMBDP_S3_ENDPOINT":   r.S3Endpoint,
		"MYSIMBDP_S3_ACCESS_KEY": r.S3User,
		"MYSIMBDP_S3_SECRET_KEY": r.S3Pass,
		"MYSIMBDP_MONGO_URI":     r.MongoURI,
		"MYSIMBDP_NATS_URL":      r.NATSURL,
	}
}

// NewBatch builds the shared/ingest Batch of a profile, as the function
// does, and makes the tenant's bucket.
func (r *BatchRig) NewBatch(ctx context.Context, profileYAML string) (*ingest.Batch, error) {
	env := r.Env(profileYAML)
	cfg, err := ingest.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	b, err := ingest.New(cfg, ingest.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	if err := r.MakeBucket(ctx, b.Profile().Bucket()); err != nil {
		_ = b.Close(ctx)
		return nil, err
	}
	return b, nil
}

// MakeBucket makes a bucket unless it exists.
func (r *BatchRig) MakeBucket(ctx context.Context, name string) error {
	ok, err := r.S3.BucketExists(ctx, name)
	if err != nil {
		return fmt.Errorf("look up bucket %s: %w", name, err)
	}
	if !ok {
		if err := r.S3.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("make bucket %s: %w", name, err)
		}
	}
	return nil
}

// Put uploads an object and returns the S3 event MinIO would publish.
// size -1 streams r as a multipart upload.
func (r *BatchRig) Put(ctx context.Context, bucket, key string, body io.Reader, size int64) (events.S3Event, error) {
	info, err := r.S3.PutObject(ctx, bucket, key, body, size, minio.PutObjectOptions{ContentType: "text/csv", PartSize: 16 << 20})
	if err != nil {
		return events.S3Event{}, fmt.Errorf("upload s3://%s/%s: %w", bucket, key, err)
	}
	return s3Event(bucket, key, info.ETag, info.Size), nil
}

// s3Event is an S3 event as MinIO sends it: the key URL-encoded.
func s3Event(bucket, key, etag string, size int64) events.S3Event {
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.0", EventSource: "minio:s3", EventName: "s3:ObjectCreated:Put",
		EventTime: time.Now().UTC(),
		S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: bucket},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: size, ETag: etag},
		},
	}}}
}

// benchLimits lets any file in: the benchmarks measure throughput, not
// quotas.
const benchLimits = `  max_file_size: 8GiB
  max_files_per_window: 1000000
  window: 1s
  formats: [csv]`

// ---- 1. full path vs raw insert -------------------------------------------

// FullVsRaw is one file size through both paths.
type FullVsRaw struct {
	Name  string
	Rows  int
	Bytes int64
	// Parse is the in-process parse of the file into encoded documents
	// (the raw path's preparation, not timed in Raw).
	Parse time.Duration
	// Raw is the unordered InsertMany of the prepared documents, in
	// batches of records.DefaultPolicy().Count, into an empty collection.
	Raw time.Duration
	// Upload and Ingest are the full path: PutObject, then HandleEvent
	// (quota and idempotency checks, streaming parse, the same batched
	// unordered inserts, ingestion record, move to processed/, report).
	Upload, Ingest time.Duration
	Rounds         int
}

func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// RawRowsPerSec and the others are the figures the report prints.
func (f FullVsRaw) RawRowsPerSec() float64 { return rate(float64(f.Rows*f.Rounds), f.Raw) }

// FullRowsPerSec counts upload and ingestion.
func (f FullVsRaw) FullRowsPerSec() float64 {
	return rate(float64(f.Rows*f.Rounds), f.Upload+f.Ingest)
}

// IngestRowsPerSec counts HandleEvent only (the object already stored).
func (f FullVsRaw) IngestRowsPerSec() float64 { return rate(float64(f.Rows*f.Rounds), f.Ingest) }

// RunFullVsRaw sends data (rows rows of tenant1's shape) through both paths
// rounds times, alternating which goes first, each round into empty
// collections of their own databases in the same FerretDB.
func RunFullVsRaw(ctx context.Context, r *BatchRig, name string, data []byte, rows, rounds int) (FullVsRaw, error) {
	res := FullVsRaw{Name: name, Rows: rows, Bytes: int64(len(data)), Rounds: rounds}
	full, raw := "bench-full", "bench-raw"
	b, err := r.NewBatch(ctx, Tenant1Profile(full))
	if err != nil {
		return res, err
	}
	defer b.Close(context.Background())

	start := time.Now()
	docs, err := encodeDocs(Tenant1Profile(raw), raw, data)
	if err != nil {
		return res, err
	}
	res.Parse = time.Since(start)
	if len(docs) != rows {
		return res, fmt.Errorf("%s: parsed %d documents, generated %d rows", name, len(docs), rows)
	}
	fullColl := r.DB.Database(full).Collection("covid_daily")
	rawColl := r.DB.Database(raw).Collection("covid_daily")
	size := records.DefaultPolicy().Count

	runRaw := func() error {
		start := time.Now()
		for j := 0; j < len(docs); j += size {
			if _, err := rawColl.InsertMany(ctx, docs[j:min(j+size, len(docs))], options.InsertMany().SetOrdered(false)); err != nil {
				return fmt.Errorf("%s raw: insert documents %d..: %w", name, j, err)
			}
		}
		res.Raw += time.Since(start)
		return nil
	}
	runFull := func(round int) error {
		key := fmt.Sprintf("incoming/%s-%d.csv", name, round)
		start := time.Now()
		ev, err := r.Put(ctx, full, key, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return err
		}
		uploaded := time.Now()
		rep, err := b.HandleEvent(ctx, ev)
		res.Upload += uploaded.Sub(start)
		res.Ingest += time.Since(uploaded)
		if err != nil {
			return fmt.Errorf("%s full: ingest %s: %w", name, key, err)
		}
		if rep.Status != contract.StatusDone || rep.RowsOK != int64(rows) {
			return fmt.Errorf("%s full: ingest %s: status %s, %d rows ok, %d rejected, want done with %d: %s",
				name, key, rep.Status, rep.RowsOK, rep.RowsRejected, rows, rep.Error)
		}
		return nil
	}
	for round := range rounds {
		for _, c := range []*mongo.Collection{fullColl, rawColl} {
			if err := c.Drop(ctx); err != nil {
				return res, fmt.Errorf("%s: empty %s.%s: %w", name, c.Database().Name(), c.Name(), err)
			}
		}
		steps := []func() error{runRaw, func() error { return runFull(round) }}
		if round%2 == 1 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return res, err
			}
		}
		for _, c := range []*mongo.Collection{fullColl, rawColl} {
			n, err := c.EstimatedDocumentCount(ctx)
			if err != nil {
				return res, fmt.Errorf("%s: count %s.%s: %w", name, c.Database().Name(), c.Name(), err)
			}
			if n != int64(rows) {
				return res, fmt.Errorf("%s: %s.%s holds %d documents, want %d", name, c.Database().Name(), c.Name(), n, rows)
			}
		}
	}
	// Leave the space to the next run.
	for _, c := range []*mongo.Collection{fullColl, rawColl} {
		if err := c.Drop(ctx); err != nil {
			return res, fmt.Errorf("%s: drop %s.%s: %w", name, c.Database().Name(), c.Name(), err)
		}
	}
	return res, nil
}

// encodeDocs parses data with the profile's plan into the documents
// shared/ingest would write (the same _id), kept encoded: no encoding cost
// in the timed inserts and a pointer-free heap that does not slow the
// in-process FerretDB down with GC work.
func encodeDocs(profileYAML, tenant string, data []byte) ([]any, error) {
	p, err := profile.Parse([]byte(profileYAML), "bench")
	if err != nil {
		return nil, fmt.Errorf("parse the bench profile: %w", err)
	}
	plan, err := records.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("compile the bench profile: %w", err)
	}
	var docs []any
	rd := plan.NewReader(bytes.NewReader(data), "bench.csv")
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse the raw baseline's rows: %w", err)
		}
		if rec.Err != nil {
			return nil, fmt.Errorf("parse the raw baseline's rows: line %d rejected: %s", rec.Line, rec.Err.Reason)
		}
		raw, err := bson.Marshal(append(bson.D{{Key: "_id", Value: records.KeyID(tenant, rec.Key...)}}, rec.Doc...))
		if err != nil {
			return nil, fmt.Errorf("encode line %d: %w", rec.Line, err)
		}
		docs = append(docs, bson.Raw(raw))
	}
}

// ---- 2. huge file through the real function, discarding sink --------------

// Huge is one huge file through the built batch-ingest binary with
// MYSIMBDP_SINK=discard.
type Huge struct {
	Rows  int
	Bytes int64
	// Generate+upload of the streamed file (PutObject with size -1).
	Upload time.Duration
	// Request is the POST of the event until the function's answer;
	// Ingest is the report's own duration.
	Request, Ingest time.Duration
	// IdleRSS is the function's VmRSS when ready, before the request; PeakRSS
	// its VmHWM read after the answer (bytes).
	IdleRSS, PeakRSS int64
	// Baseline: the same generator read by the same plan in this process
	// (no S3, HTTP or batching) over BaselineBytes.
	BaselineRows  int
	BaselineBytes int64
	Baseline      time.Duration
}

// HugeRowsPerSec is the function's parse-and-batch rate over the report's
// duration: from the event's arrival to the outcome stored, before the
// object is moved to processed/ (a server-side copy of the whole file).
func (h Huge) HugeRowsPerSec() float64 { return rate(float64(h.Rows), h.Ingest) }

// HugeMBPerSec is the same in MB/s (10^6 bytes).
func (h Huge) HugeMBPerSec() float64 { return rate(float64(h.Bytes)/1e6, h.Ingest) }

// RunHuge builds the batch-ingest function from the repo's stack.yml, runs
// it as a child process with the stack's environment for it (timeouts
// included), the rig's endpoints and MYSIMBDP_SINK=discard, streams a file
// of size bytes into MinIO and posts its event. baseline bytes of the same
// data are parsed in-process first for comparison (0 skips it).
func RunHuge(ctx context.Context, r *BatchRig, size, baseline int64, progress io.Writer) (Huge, error) {
	var res Huge
	const tenant = "bench-huge"
	prof := Tenant1Profile(tenant)

	if baseline > 0 {
		fmt.Fprintf(progress, "huge: in-process parse baseline over %d MiB...\n", baseline>>20)
		var err error
		res.BaselineRows, res.BaselineBytes, res.Baseline, err = parseOnly(ctx, prof, baseline)
		if err != nil {
			return res, err
		}
	}

	fmt.Fprintf(progress, "huge: building %s...\n", BatchFunction)
	st, err := stack.Load(filepath.Join(r.repo, "stack.yml"))
	if err != nil {
		return res, err
	}
	b := &fnbuild.Builder{Stack: st, ImagesDir: filepath.Join(r.Dir, "images"), BuildDir: filepath.Join(r.Dir, "build")}
	exe, err := b.Build(ctx, BatchFunction)
	if err != nil {
		return res, err
	}
	d, err := st.Deployment(BatchFunction)
	if err != nil {
		return res, err
	}
	env := d.EnvVars
	delete(env, "MYSIMBDP_PROFILE_SECRET")
	for k, v := range r.Env(prof) {
		env[k] = v
	}
	env["MYSIMBDP_SINK"] = ingest.SinkDiscard
	port := freeport.MustGet()
	env["port"], env["host"] = strconv.Itoa(port), "127.0.0.1"

	fn, err := startChild(exe, env, filepath.Join(r.Dir, "batch-ingest.log"))
	if err != nil {
		return res, err
	}
	defer fn.stop()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(ctx, base+"/_/ready", time.Minute); err != nil {
		return res, fmt.Errorf("%w\n%s", err, fn.logTail())
	}
	if res.IdleRSS, err = procStatus(fn.cmd.Process.Pid, "VmRSS"); err != nil {
		return res, err
	}

	if err := r.MakeBucket(ctx, tenant); err != nil {
		return res, err
	}
	fmt.Fprintf(progress, "huge: streaming %d MiB into MinIO...\n", size>>20)
	gen := ecdc.NewSizedReader(size)
	start := time.Now()
	ev, err := r.Put(ctx, tenant, "incoming/huge.csv", gen, -1)
	if err != nil {
		return res, err
	}
	res.Upload = time.Since(start)
	res.Rows, res.Bytes = gen.Rows(), gen.Bytes()

	fmt.Fprintf(progress, "huge: ingesting %d rows through the function process...\n", res.Rows)
	body, err := json.Marshal(ev)
	if err != nil {
		return res, fmt.Errorf("encode the S3 event: %w", err)
	}
	start = time.Now()
	rep, err := invoke(ctx, base+"/", body)
	res.Request = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("%w\n%s", err, fn.logTail())
	}
	if res.PeakRSS, err = procStatus(fn.cmd.Process.Pid, "VmHWM"); err != nil {
		return res, err
	}
	res.Ingest = time.Duration(rep.DurationMS) * time.Millisecond
	if rep.Status != contract.StatusDone || rep.RowsOK != int64(res.Rows) || rep.Bytes != res.Bytes {
		return res, fmt.Errorf("huge: status %s, %d rows ok, %d rejected, %d bytes read; want done, %d rows, %d bytes: %s",
			rep.Status, rep.RowsOK, rep.RowsRejected, rep.Bytes, res.Rows, res.Bytes, rep.Error)
	}
	if err := r.S3.RemoveObject(ctx, tenant, ingest.Destination("incoming/huge.csv", rep.Status), minio.RemoveObjectOptions{}); err != nil {
		return res, fmt.Errorf("remove the huge file: %w", err)
	}
	return res, nil
}

// parseOnly reads size bytes of generated data with the profile's plan in
// this process: the floor of what parsing costs.
func parseOnly(ctx context.Context, profileYAML string, size int64) (rows int, n int64, d time.Duration, err error) {
	p, err := profile.Parse([]byte(profileYAML), "bench")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("parse the bench profile: %w", err)
	}
	plan, err := records.Compile(p)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("compile the bench profile: %w", err)
	}
	gen := ecdc.NewSizedReader(size)
	start := time.Now()
	rd := plan.NewReader(gen, "baseline.csv")
	for i := 0; ; i++ {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("parse baseline: %w", err)
		}
		if rec.Err != nil {
			return 0, 0, 0, fmt.Errorf("parse baseline: line %d rejected: %s", rec.Line, rec.Err.Reason)
		}
		if i%65536 == 0 && ctx.Err() != nil {
			return 0, 0, 0, ctx.Err()
		}
	}
	return gen.Rows(), gen.Bytes(), time.Since(start), nil
}

// child is a function process; stop ends it (SIGTERM, then SIGKILL).
type child struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	logFile *os.File
}

func startChild(exe string, env map[string]string, logPath string) (*child, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create the function's log: %w", err)
	}
	cmd := exec.Command(exe)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	cmd.Stdout, cmd.Stderr = f, f
	// Killed with this process if it dies first, so it is never orphaned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{}), logPath: logPath, logFile: f}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	return c, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.logFile.Close()
}

// logTail is the end of the function's log, for error messages.
func (c *child) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "function log (tail):\n" + string(b)
}

func waitReady(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not ready within %s (last: %v)", url, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke posts an S3 event to the function and decodes its report.
func invoke(ctx context.Context, url string, body []byte) (contract.BatchReport, error) {
	var rep contract.BatchReport
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return rep, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rep, fmt.Errorf("invoke the function: %w", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return rep, fmt.Errorf("read the function's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return rep, fmt.Errorf("the function answered %d: %s", resp.StatusCode, out)
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return rep, fmt.Errorf("decode the function's report %q: %w", out, err)
	}
	return rep, nil
}

// procStatus reads a kB field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the function's %s: %w", field, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", field, val, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// ---- 3. the seed's workload -------------------------------------------------

// Seed is the seed system's workload: tenants in parallel, each ingesting
// its files one after another end to end (upload, then HandleEvent).
type Seed struct {
	Tenants, Files, Rows int
	Bytes                int64
	Wall                 time.Duration
	// PerFile is the mean of the files' upload+ingest times.
	PerFile time.Duration
}

// RunSeed runs tenants×files files of SeedRowsPerFile rows; the tenants
// alternate between tenant1's and tenant2's shapes.
func RunSeed(ctx context.Context, r *BatchRig, tenants, files int) (Seed, error) {
	res := Seed{Tenants: tenants, Files: files}
	data := make([][]byte, files)
	for j := range data {
		data[j] = ecdc.CSV(j*SeedRowsPerFile, (j+1)*SeedRowsPerFile)
		res.Bytes += int64(len(data[j])) * int64(tenants)
	}
	res.Rows = tenants * files * SeedRowsPerFile
	batches := make([]*ingest.Batch, tenants)
	defer func() {
		for _, b := range batches {
			if b != nil {
				_ = b.Close(context.Background())
			}
		}
	}()
	for t := range tenants {
		name := fmt.Sprintf("seed%d", t+1)
		prof := Tenant1Profile(name)
		if t%2 == 1 {
			prof = Tenant2Profile(name)
		}
		b, err := r.NewBatch(ctx, prof)
		if err != nil {
			return res, err
		}
		batches[t] = b
		if err := r.DB.Database(name).Drop(ctx); err != nil {
			return res, fmt.Errorf("empty database %s: %w", name, err)
		}
	}

	durs := make([][]time.Duration, tenants)
	errs := make([]error, tenants)
	var wg sync.WaitGroup
	start := time.Now()
	for t, b := range batches {
		wg.Go(func() {
			bucket := b.Profile().Bucket()
			for j, d := range data {
				key := fmt.Sprintf("incoming/ecdc-%d.csv", j)
				fstart := time.Now()
				ev, err := r.Put(ctx, bucket, key, bytes.NewReader(d), int64(len(d)))
				if err != nil {
					errs[t] = err
					return
				}
				rep, err := b.HandleEvent(ctx, ev)
				if err != nil {
					errs[t] = fmt.Errorf("seed: ingest %s/%s: %w", bucket, key, err)
					return
				}
				if rep.Status != contract.StatusDone || rep.RowsOK != SeedRowsPerFile {
					errs[t] = fmt.Errorf("seed: ingest %s/%s: status %s, %d rows ok, %d rejected: %s",
						bucket, key, rep.Status, rep.RowsOK, rep.RowsRejected, rep.Error)
					return
				}
				durs[t] = append(durs[t], time.Since(fstart))
			}
		})
	}
	wg.Wait()
	res.Wall = time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	var sum time.Duration
	for _, ds := range durs {
		for _, d := range ds {
			sum += d
		}
	}
	res.PerFile = sum / time.Duration(tenants*files)
	for _, b := range batches {
		coll := r.DB.Database(b.Profile().Tenant).Collection(b.Profile().Sink.Collection)
		n, err := coll.EstimatedDocumentCount(ctx)
		if err != nil {
			return res, fmt.Errorf("seed: count %s: %w", b.Profile().Tenant, err)
		}
		if n != int64(files*SeedRowsPerFile) {
			return res, fmt.Errorf("seed: tenant %s holds %d documents, want %d", b.Profile().Tenant, n, files*SeedRowsPerFile)
		}
	}
	return res, nil
}

// ---- the report ---------------------------------------------------------------

// BatchReport is one run of the batch benchmark.
type BatchReport struct {
	Sizes []FullVsRaw
	Huge  *Huge
	Seed  *Seed
}

// Print writes the report as tables with the ratios the goals are set in.
func (p BatchReport) Print(w io.Writer) {
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	if len(p.Sizes) > 0 {
		fmt.Fprintln(w, "1. full path (upload to MinIO -> rows stored, shared/ingest HandleEvent) vs raw unordered InsertMany of the")
		fmt.Fprintf(w, "   same rows parsed beforehand, same FerretDB, batches of %d, empty collection each round (goal full/raw >= 0.90)\n", records.DefaultPolicy().Count)
		fmt.Fprintf(w, "  %-6s %9s %10s %6s %12s %12s %12s %12s %10s %12s\n",
			"file", "size", "rows", "rounds", "raw rows/s", "full rows/s", "full/raw", "ingest rows/s", "ingest/raw", "parse rows/s")
		for _, s := range p.Sizes {
			fmt.Fprintf(w, "  %-6s %9s %10d %6d %12.0f %12.0f %12.2f %12.0f %10.2f %12.0f\n",
				s.Name, mb(s.Bytes), s.Rows, s.Rounds, s.RawRowsPerSec(), s.FullRowsPerSec(),
				s.FullRowsPerSec()/s.RawRowsPerSec(), s.IngestRowsPerSec(), s.IngestRowsPerSec()/s.RawRowsPerSec(),
				rate(float64(s.Rows), s.Parse))
		}
		fmt.Fprintln(w, "   full = upload + HandleEvent; ingest = HandleEvent alone (object already in MinIO);")
		fmt.Fprintln(w, "   parse = the raw path's untimed preparation (parse + BSON encode, in process), for scale")
	}
	if h := p.Huge; h != nil {
		fmt.Fprintf(w, "2. huge file through the real %s process (fnrun, stack env), MYSIMBDP_SINK=discard\n", BatchFunction)
		fmt.Fprintf(w, "  %-34s %s, %d rows, uploaded streaming (size -1) in %.1f s\n", "file", mb(h.Bytes), h.Rows, h.Upload.Seconds())
		fmt.Fprintf(w, "  %-34s %.1f s (report's duration): %.0f rows/s, %.1f MB/s\n", "function: parse + batch + discard",
			h.Ingest.Seconds(), h.HugeRowsPerSec(), h.HugeMBPerSec())
		fmt.Fprintf(w, "  %-34s %.1f s (adds the move to processed/): %.0f rows/s, %.1f MB/s\n", "  whole request",
			h.Request.Seconds(), rate(float64(h.Rows), h.Request), rate(float64(h.Bytes)/1e6, h.Request))
		if h.Baseline > 0 {
			br := rate(float64(h.BaselineRows), h.Baseline)
			fmt.Fprintf(w, "  %-34s %s in %.1f s: %.0f rows/s, %.1f MB/s; function/baseline %.2f\n", "baseline: in-process parse only",
				mb(h.BaselineBytes), h.Baseline.Seconds(), br, rate(float64(h.BaselineBytes)/1e6, h.Baseline), h.HugeRowsPerSec()/br)
		}
		verdict := "ok"
		if h.PeakRSS > 64<<20 {
			verdict = "OVER"
		}
		fmt.Fprintf(w, "  %-34s peak (VmHWM) %.1f MiB, idle %.1f MiB — goal <= 64 MiB: %s\n", "function memory",
			float64(h.PeakRSS)/(1<<20), float64(h.IdleRSS)/(1<<20), verdict)
	}
	if s := p.Seed; s != nil {
		fmt.Fprintf(w, "3. seed workload: %d tenants x %d files x %s (%d rows), tenants in parallel, files in sequence, end to end\n",
			s.Tenants, s.Files, mb(s.Bytes/int64(s.Tenants*s.Files)), SeedRowsPerFile)
		fmt.Fprintf(w, "  %-10s %12s %12s %14s\n", "system", "wall", "per file", "rows/s")
		fmt.Fprintf(w, "  %-10s %11.1fs %11.1fs %14.0f\n", "seed", SeedWall.Seconds(), SeedPerFile.Seconds(), rate(float64(s.Rows), SeedWall))
		fmt.Fprintf(w, "  %-10s %11.1fs %11.2fs %14.0f\n", "mysimbdp", s.Wall.Seconds(), s.PerFile.Seconds(), rate(float64(s.Rows), s.Wall))
		fmt.Fprintf(w, "  mysimbdp/seed speed-up: wall %.2fx, per file %.2fx\n", SeedWall.Seconds()/s.Wall.Seconds(), SeedPerFile.Seconds()/s.PerFile.Seconds())
	}
}

// Tenant1Profile and Tenant2Profile are the demo tenants' shapes
// (shared/ecdc.Profile) under another tenant id, with benchLimits.
func Tenant1Profile(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, "batch:\n"+benchLimits+"\n")
}

func Tenant2Profile(tenant string) string {
	return ecdc.Profile(tenant, ecdc.SnakeCase, "batch:\n"+benchLimits+"\n")
}
