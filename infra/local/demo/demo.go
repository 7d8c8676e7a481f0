// Package demo runs the platform's main job once on a running local stack,
// the way the seed system's demo did: each tenant uploads ECDC-shaped files
// (shared/ecdc) into its bucket's incoming/ with a plain S3 client, and the
// demo waits, printing its progress, until every file has an outcome the
// platform recorded — its ingestion report (the ingestion records shared/ingest
// keeps in each tenant's database) or its dead letter — and the tenants' databases
// hold the rows the reports say were stored. It then prints each file with
// its status, rows stored and rejected, and the reason of every file that
// did not end done, and fails unless every file ended done.
// `mysimbdp up --demo` runs it.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultTimeout       = 15 * time.Minute
	DefaultProgressEvery = 5 * time.Second
	pollEvery            = time.Second
)

// Config is one demo run.
type Config struct {
	MinIO, MinIOUser, MinIOPassword string
	// MinIOSecure and CAFile: a platform serving TLS (shared/trust).
	MinIOSecure bool
	CAFile      string
	// NATS is the platform user's URL (profiles, dead letters).
	NATS     string
	MongoURI string
	// Tenants are the tenants to upload to.
	Tenants []string
	// Files per tenant and rows per file; the seed's files had ~60k rows
	// (4.3 MB).
	Files, Rows int
	// Timeout bounds the wait for every file's outcome.
	Timeout time.Duration
	// ProgressEvery is how often a progress line is printed while
	// waiting (also whenever the counts change).
	ProgressEvery time.Duration
}

// Run uploads, waits and prints a summary to out. It returns an error
// unless every file ended done and the databases hold their rows.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if len(cfg.Tenants) == 0 || cfg.Files <= 0 || cfg.Rows <= 0 {
		return fmt.Errorf("demo: nothing to do (%d tenants, %d files of %d rows)", len(cfg.Tenants), cfg.Files, cfg.Rows)
	}
	tr, err := trust.S3Transport(cfg.MinIOSecure, cfg.CAFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	mc, err := minio.New(cfg.MinIO, &minio.Options{Creds: credentials.NewStaticV4(cfg.MinIOUser, cfg.MinIOPassword, ""), Secure: cfg.MinIOSecure, Transport: tr})
	if err != nil {
		return fmt.Errorf("demo: MinIO client: %w", err)
	}
	nc, err := nats.Connect(cfg.NATS, append(trust.NATS(cfg.CAFile), nats.Name("mysimbdp demo"))...)
	if err != nil {
		return fmt.Errorf("demo: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("demo: JetStream: %w", err)
	}
	mopts, err := mongotrust.Options(options.Client().ApplyURI(cfg.MongoURI), cfg.CAFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	db, err := mongo.Connect(mopts)
	if err != nil {
		return fmt.Errorf("demo: connect to MongoDB: %w", err)
	}
	defer db.Disconnect(context.WithoutCancel(ctx))

	profiles, err := quota.Profiles(ctx, js)
	if profiles == nil {
		return fmt.Errorf("demo: tenants' profiles: %w", err)
	}
	if err != nil {
		// A tenant whose profile does not parse is taken to run the
		// platform's app; its files then need reports to count as done.
		fmt.Fprintf(out, "warning: %v\n", err)
	}
	w := &watch{cfg: cfg, js: js, db: db}
	for _, id := range cfg.Tenants {
		w.tenants = append(w.tenants, newTenant(id, profiles[id]))
	}
	if err := w.start(ctx); err != nil {
		return err
	}

	first, err := nextFirstRow(ctx, mc, w.tenants)
	if err != nil {
		return err
	}
	start := time.Now()
	stamp := start.UTC().Format("20060102T150405")
	for _, t := range w.tenants {
		for f := range cfg.Files {
			// Rows never uploaded by an earlier demo on this data folder,
			// so that what the databases gain is what this run stored.
			from := first + f*cfg.Rows
			to := from + cfg.Rows
			body := ecdc.CSV(from, to)
			key := fmt.Sprintf("%sdemo-%s-rows-%d-%d.csv", profile.IncomingPrefix, stamp, from, to)
			info, err := mc.PutObject(ctx, t.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"})
			if err != nil {
				return fmt.Errorf("demo: upload s3://%s/%s: %w", t.bucket, key, err)
			}
			t.files = append(t.files, &file{key: key, etag: strings.Trim(info.ETag, `"`), rows: int64(cfg.Rows), state: stateWaiting})
			fmt.Fprintf(out, "uploaded s3://%s/%s (%d rows, %.1f MB)\n", t.bucket, key, cfg.Rows, float64(len(body))/1e6)
		}
	}

	fmt.Fprintf(out, "\nwaiting for every file's outcome (at most %s)\n", cfg.Timeout)
	waitErr := w.wait(ctx, start, out)
	elapsed := time.Since(start)
	if err := w.finalCounts(ctx); err != nil && waitErr == nil {
		waitErr = err
	}
	if err := printSummary(out, w.tenants); err != nil {
		return err
	}
	if bad := w.verdict(); bad != nil || waitErr != nil {
		return errors.Join(waitErr, bad)
	}
	n := len(w.tenants) * cfg.Files
	rows := int64(0)
	for _, t := range w.tenants {
		rows += t.gained
	}
	fmt.Fprintf(out, "\nall %d files ingested in %s (%.1f s per file): %d rows stored\n",
		n, elapsed.Round(100*time.Millisecond), elapsed.Seconds()/float64(n), rows)
	return nil
}

// demoKey matches the files earlier demos uploaded, wherever the platform
// moved them (incoming/, processed/, rejected/).
var demoKey = regexp.MustCompile(`demo-[0-9T]+-rows-([0-9]+)-([0-9]+)\.csv$`)

// nextFirstRow is the first row no earlier demo uploaded to these tenants.
func nextFirstRow(ctx context.Context, mc *minio.Client, tenants []*tenant) (int, error) {
	next := 0
	for _, t := range tenants {
		for o := range mc.ListObjects(ctx, t.bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				return 0, fmt.Errorf("demo: list s3://%s: %w", t.bucket, o.Err)
			}
			if m := demoKey.FindStringSubmatch(path.Base(o.Key)); m != nil {
				if to, err := strconv.Atoi(m[2]); err == nil && to > next {
					next = to
				}
			}
		}
	}
	return next, nil
}
