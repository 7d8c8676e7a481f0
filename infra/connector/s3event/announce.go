package s3event

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Announcing an object again: what the sweep (sweep.go) and the local
// stack's pass after a MinIO restart (infra/local/localstack) do when
// MinIO's notification of an upload may be lost. Both list a bucket's
// incoming/ folder (ListIncoming) and publish, for an object, the event
// MinIO publishes for an upload (PublishCreated), which the flow and the
// functions cannot tell from MinIO's own.

// ListIncoming lists the objects under prefix in bucket, folder markers
// left out. It stops at the first error, which it yields.
func ListIncoming(ctx context.Context, mc *minio.Client, bucket, prefix string) iter.Seq2[minio.ObjectInfo, error] {
	return func(yield func(minio.ObjectInfo, error) bool) {
		lctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the listing goroutine if the caller stops early
		for o := range mc.ListObjects(lctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
			if o.Err != nil {
				yield(o, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, o.Err))
				return
			}
			if strings.HasSuffix(o.Key, "/") {
				continue
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

// minioEvent is the envelope MinIO publishes a bucket event in.
type minioEvent struct {
	EventName string                 `json:"EventName"`
	Key       string                 `json:"Key"`
	Records   []events.S3EventRecord `json:"Records"`
}

// PublishCreated publishes to subject (the S3 events subject) the
// ObjectCreated event MinIO would have sent for o, under JetStream
// message id msgID, so that publishing it again within the stream's
// duplicate window is a no-op.
func PublishCreated(ctx context.Context, js jetstream.JetStream, subject, bucket string, o minio.ObjectInfo, msgID string) error {
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
	m := nats.NewMsg(subject)
	m.Data = body
	if msgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish the event of s3://%s/%s: %w", bucket, o.Key, err)
	}
	return nil
}
