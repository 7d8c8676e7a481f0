package s3event

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// s3Event is the JSON MinIO publishes for one object; like MinIO it
// query-escapes the object key.
func s3Event(event, bucket, key string) []byte {
	return fmt.Appendf(nil, `{"EventName":%q,"Key":%q,"Records":[{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2025-05-01T10:00:00.000Z","eventName":%q,"userIdentity":{"principalId":"minio"},"requestParameters":{"sourceIPAddress":"127.0.0.1"},"responseElements":{},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":%q,"ownerIdentity":{"principalId":"minio"},"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":10,"eTag":"abc","contentType":"text/csv","sequencer":"18"}}}]}`,
		event, bucket+"/"+key, event, bucket, bucket, url.QueryEscape(key))
}

func TestParseS3Event(t *testing.T) {
	two := `{"Records":[` +
		`{"eventName":"s3:ObjectCreated:Put","eventTime":"2025-05-01T10:00:00Z","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming%2Fa.csv"}}},` +
		`{"eventName":"s3:ObjectCreated:Put","eventTime":"2025-05-01T10:00:00Z","s3":{"bucket":{"name":"t2"},"object":{"key":"incoming%2Fb.csv"}}}]}`
	for _, tc := range []struct {
		name, body, bucket, err, ignored string
		keys                             []string
	}{
		{name: "minio put", body: string(s3Event("s3:ObjectCreated:Put", "t1", "incoming/dir/a b+c.csv")), bucket: "t1", keys: []string{"incoming/dir/a b+c.csv"}},
		{name: "aws spelling", body: `{"Records":[{"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming/x"}}}]}`, bucket: "t1", keys: []string{"incoming/x"}},
		{name: "delete", body: string(s3Event("s3:ObjectRemoved:Delete", "t1", "incoming/a.csv")), ignored: "not ObjectCreated"},
		{name: "outside incoming", body: string(s3Event("s3:ObjectCreated:Put", "t1", "reports/a.csv")), ignored: "not under incoming/"},
		{name: "no records", body: `{"EventName":"s3:ObjectCreated:Put"}`, ignored: "no records"},
		{name: "not json", body: `<xml/>`, err: "decode S3 event"},
		{name: "bad key escape", body: `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"t1"},"object":{"key":"incoming%zz"}}}]}`, err: "decode S3 event"},
		{name: "two buckets", body: two, err: "records of buckets t1 and t2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseS3Event([]byte(tc.body), "incoming/")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.bucket != tc.bucket || !slices.Equal(r.keys, tc.keys) || !strings.Contains(r.ignored, tc.ignored) {
				t.Errorf("got %+v, want bucket %q keys %v ignored ~%q", r, tc.bucket, tc.keys, tc.ignored)
			}
		})
	}
}
