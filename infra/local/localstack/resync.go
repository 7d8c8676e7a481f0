package localstack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/local/supervise"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// After MinIO restarts, the events of some uploads never reach NATS: a
// restarted MinIO accepts uploads a moment before its bucket
// notifications are loaded (seen in tests/e2e: the first uploads after a
// kill -9 had no event), and an upload acknowledged just before a kill may
// not have had its event queued yet. So once MinIO is back, the stack
// publishes the event of every object under incoming/ of every bucket with
// notifications that changed around the restart. A file that did get its
// event is delivered twice, which the batch app contract allows: apps are
// idempotent per object version.
const (
	// resyncDelay is how long after a restart the pass runs: past the
	// moments notifications may still be loading.
	resyncDelay = 10 * time.Second
	// resyncBefore is how far before the exit the pass looks.
	resyncBefore = 30 * time.Second
)

// onMinIOChange writes the status file and, after a restart, schedules
// the pass that republishes the events MinIO may have lost.
func (s *Stack) onMinIOChange(st supervise.Status) {
	s.writeStatus()
	s.statusMu.Lock()
	restarted := st.Restarts > s.minioRestarts
	s.minioRestarts = st.Restarts
	s.statusMu.Unlock()
	if !restarted || st.State != supervise.StateRunning {
		return
	}
	since := st.LastExitAt.Add(-resyncBefore)
	s.background.Go(func() {
		t := time.NewTimer(resyncDelay)
		defer t.Stop()
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
		}
		n, err := s.resyncEvents(s.bgCtx, since)
		if err != nil {
			s.log.Error("republish the events MinIO may have lost in its restart; files uploaded around it may wait in incoming/ until uploaded again", "part", PartMinIO, "err", err)
			return
		}
		s.log.Info("republished the events of the files uploaded around MinIO's restart", "part", PartMinIO, "events", n, "since", since)
	})
}

// resyncEvents publishes, for every object under incoming/ of every bucket
// with notifications, modified since since, the event MinIO sends for an
// upload, and returns how many it published.
func (s *Stack) resyncEvents(ctx context.Context, since time.Time) (int, error) {
	mc, err := minio.New(s.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(s.Creds.MinIOUser, s.Creds.MinIOPassword, "")})
	if err != nil {
		return 0, fmt.Errorf("MinIO client: %w", err)
	}
	nc, err := nats.Connect(s.Endpoints.NATS, nats.Name("mysimbdp minio-resync"))
	if err != nil {
		return 0, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("JetStream: %w", err)
	}
	buckets, err := mc.ListBuckets(ctx)
	if err != nil {
		return 0, fmt.Errorf("list buckets: %w", err)
	}
	n := 0
	for _, b := range buckets {
		cfg, err := mc.GetBucketNotification(ctx, b.Name)
		if err != nil {
			return n, fmt.Errorf("notifications of bucket %s: %w", b.Name, err)
		}
		if len(cfg.QueueConfigs) == 0 {
			continue // no events from this bucket: nothing was lost
		}
		for o := range mc.ListObjects(ctx, b.Name, minio.ListObjectsOptions{Prefix: profile.IncomingPrefix, Recursive: true}) {
			if o.Err != nil {
				return n, fmt.Errorf("list s3://%s/%s: %w", b.Name, profile.IncomingPrefix, o.Err)
			}
			if o.LastModified.Before(since) || strings.HasSuffix(o.Key, "/") {
				continue
			}
			if err := publishCreated(ctx, js, b.Name, o); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// minioEvent is the envelope MinIO publishes a bucket event in.
type minioEvent struct {
	EventName string                 `json:"EventName"`
	Key       string                 `json:"Key"`
	Records   []events.S3EventRecord `json:"Records"`
}

// publishCreated publishes the ObjectCreated event MinIO would have sent
// for o. Its message id makes a second pass within the stream's duplicate
// window a no-op.
func publishCreated(ctx context.Context, js jetstream.JetStream, bucket string, o minio.ObjectInfo) error {
	const name = "s3:ObjectCreated:Put"
	rec := events.S3EventRecord{
		EventVersion: "2.0", EventSource: "minio:s3", AWSRegion: "", EventTime: o.LastModified, EventName: name,
		S3: events.S3Entity{
			SchemaVersion: "1.0",
			Bucket:        events.S3Bucket{Name: bucket, Arn: "arn:aws:s3:::" + bucket},
			Object:        events.S3Object{Key: url.QueryEscape(o.Key), Size: o.Size, ETag: o.ETag, VersionID: o.VersionID},
		},
	}
	body, err := json.Marshal(minioEvent{EventName: name, Key: bucket + "/" + o.Key, Records: []events.S3EventRecord{rec}})
	if err != nil {
		return fmt.Errorf("encode the event of s3://%s/%s: %w", bucket, o.Key, err)
	}
	m := nats.NewMsg(contract.S3EventsSubject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, "resync-"+bucket+"/"+o.Key+"@"+o.ETag)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish the event of s3://%s/%s: %w", bucket, o.Key, err)
	}
	return nil
}
