// Package demo runs the platform's main job once on a running local stack,
// the way the seed system's demo did: each tenant uploads ECDC-shaped files
// (shared/ecdc) into its bucket's incoming/ with a plain S3 client, and the
// demo waits until the connector has delivered every resulting event, then
// prints what landed in each tenant's database. `mysimbdp up --demo` runs it.
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// Config is one demo run.
type Config struct {
	MinIO, MinIOUser, MinIOPassword string
	NATS                            string
	MongoURI                        string
	// Tenants are the tenants (= buckets) to upload to.
	Tenants []string
	// Files per tenant and rows per file; the seed's files had ~60k rows
	// (4.3 MB).
	Files, Rows int
	// Timeout bounds the wait for the connector to deliver every event.
	Timeout time.Duration
}

// Run uploads, waits and prints a summary to out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	mc, err := minio.New(cfg.MinIO, &minio.Options{Creds: credentials.NewStaticV4(cfg.MinIOUser, cfg.MinIOPassword, "")})
	if err != nil {
		return fmt.Errorf("demo: MinIO client: %w", err)
	}
	nc, err := nats.Connect(cfg.NATS)
	if err != nil {
		return fmt.Errorf("demo: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("demo: JetStream: %w", err)
	}
	events, err := js.Stream(ctx, contract.S3EventsStream)
	if err != nil {
		return fmt.Errorf("demo: events stream: %w", err)
	}
	before, err := events.Info(ctx)
	if err != nil {
		return fmt.Errorf("demo: events stream: %w", err)
	}

	start := time.Now()
	stamp := start.UTC().Format("20060102T150405")
	for _, t := range cfg.Tenants {
		for f := range cfg.Files {
			// Distinct row ranges per file, so every row has its own business key.
			body := ecdc.CSV(f*cfg.Rows, (f+1)*cfg.Rows)
			key := fmt.Sprintf("incoming/ecdc-%s-%d.csv", stamp, f)
			if _, err := mc.PutObject(ctx, t, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/csv"}); err != nil {
				return fmt.Errorf("demo: upload s3://%s/%s: %w", t, key, err)
			}
			fmt.Fprintf(out, "uploaded s3://%s/%s (%d rows, %.1f MB)\n", t, key, cfg.Rows, float64(len(body))/1e6)
		}
	}

	want := before.State.LastSeq + uint64(len(cfg.Tenants)*cfg.Files)
	if err := waitDelivered(ctx, js, want, cfg.Timeout); err != nil {
		return err
	}
	elapsed := time.Since(start)

	db, err := mongo.Connect(options.Client().ApplyURI(cfg.MongoURI))
	if err != nil {
		return fmt.Errorf("demo: connect to MongoDB: %w", err)
	}
	defer db.Disconnect(context.Background())
	fmt.Fprintf(out, "\nall %d files ingested in %s (%.1f s per file); what each tenant's database holds now:\n",
		len(cfg.Tenants)*cfg.Files, elapsed.Round(100*time.Millisecond), elapsed.Seconds()/float64(len(cfg.Tenants)*cfg.Files))
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tCOLLECTION\tDOCUMENTS")
	for _, t := range cfg.Tenants {
		names, err := db.Database(t).ListCollectionNames(ctx, bson.D{})
		if err != nil {
			return fmt.Errorf("demo: collections of %s: %w", t, err)
		}
		for _, n := range names {
			count, err := db.Database(t).Collection(n).CountDocuments(ctx, bson.D{})
			if err != nil {
				return fmt.Errorf("demo: count %s.%s: %w", t, n, err)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\n", t, n, count)
		}
	}
	return tw.Flush()
}

// waitDelivered waits until the events stream holds the uploads' events
// and the connector has acknowledged all of them.
func waitDelivered(ctx context.Context, js jetstream.JetStream, lastSeq uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := js.Stream(ctx, contract.S3EventsStream)
		if err != nil {
			return fmt.Errorf("demo: events stream: %w", err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("demo: events stream: %w", err)
		}
		var pending uint64 = 1
		if info.State.LastSeq >= lastSeq {
			c, err := s.Consumer(ctx, contract.S3EventsDurable)
			if err == nil {
				ci, err := c.Info(ctx)
				if err == nil {
					pending = ci.NumPending + uint64(ci.NumAckPending)
				}
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: the connector has not delivered every event within %s (see mysimbdp logs <tenant>-batch-ingest)", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
