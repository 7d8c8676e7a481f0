package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/ingest"
)

// functionEnv is what the SAM template gives a tenant's function: the
// profile inline, the endpoints, the tenant. On AWS the S3 keys come from
// the execution role instead; here they are MinIO's.
func functionEnv(tenant, profileYAML, bucket string) map[string]string {
	return map[string]string{
		"MYSIMBDP_TENANT":        tenant,
		"MYSIMBDP_PROFILE":       profileYAML,
		"MYSIMBDP_MONGO_URI":     env.mongoURI,
		"MYSIMBDP_S3_ENDPOINT":   env.s3Endpoint,
		"MYSIMBDP_S3_ACCESS_KEY": env.s3User,
		"MYSIMBDP_S3_SECRET_KEY": env.s3Pass,
		"MYSIMBDP_S3_BUCKET":     bucket,
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// s3Event is the notification S3 sends Lambda for an upload: key
// URL-encoded (a space is "+"), as in AWS's own example events.
func s3Event(bucket, key, etag string, size int64) events.S3Event {
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion: "2.1", EventSource: "aws:s3", AWSRegion: "eu-north-1", EventName: "ObjectCreated:Put",
		EventTime: time.Now().UTC(),
		S3: events.S3Entity{
			SchemaVersion: "1.0", ConfigurationID: "incoming",
			Bucket: events.S3Bucket{Name: bucket, Arn: "arn:aws:s3:::" + bucket},
			Object: events.S3Object{Key: url.QueryEscape(key), Size: size, ETag: etag, Sequencer: "0055AED6DCD90281E5"},
		},
	}}}
}

// The batch app on Lambda: an S3 event in, the rows in the tenant's
// database, the report as the result; a redelivery adds nothing.
func TestBatchIngestTakesS3Events(t *testing.T) {
	const tenant, bucket = "lbatch", "acme-lbatch-data" // on AWS a bucket is not named after the tenant alone
	ctx := context.Background()
	if err := env.s3.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	fn := startFunction(t, "batch-ingest", functionEnv(tenant, ecdc.Profile(tenant, ecdc.SourceNames, ""), bucket))

	const rows = 300
	key := "incoming/2020/cases 1.csv"
	data := append(ecdc.CSV(0, rows), "not,a,row\r\n"...)
	info, err := env.s3.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	event := mustJSON(t, s3Event(bucket, key, info.ETag, info.Size))

	for _, delivery := range []string{"first", "redelivered"} {
		var rep contract.BatchReport
		if err := json.Unmarshal(fn.mustInvoke(t, event), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Status != contract.StatusDone || rep.RowsOK != rows || rep.RowsRejected != 1 || rep.Bucket != bucket || rep.Key != key || rep.Tenant != tenant {
			t.Fatalf("%s: report %+v, want done with %d rows ok and 1 rejected", delivery, rep, rows)
		}
		coll := env.db.Database(tenant).Collection("covid_daily")
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != rows {
			t.Fatalf("%s: covid_daily holds %d documents (%v), want %d", delivery, n, err, rows)
		}
		if n, err := env.db.Database(tenant).Collection("covid_daily_rejected").CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
			t.Fatalf("%s: covid_daily_rejected holds %d (%v), want the one bad line", delivery, n, err)
		}
	}
	// Contents: row 7 as the file had it.
	checkRow(t, tenant, 7)
	if _, err := env.s3.StatObject(ctx, bucket, "processed/2020/cases 1.csv", minio.StatObjectOptions{}); err != nil {
		t.Errorf("the file was not moved to processed/: %v", err)
	}
	if _, err := env.s3.StatObject(ctx, bucket, "processed/2020/cases 1.csv"+ingest.ReportSuffix, minio.StatObjectOptions{}); err != nil {
		t.Errorf("no report beside the processed file: %v", err)
	}

	// Refusals come back as Lambda errors saying why, so Lambda retries
	// them and then keeps them in the on-failure destination.
	for _, tc := range []struct {
		name, event, wantType, wantMsg string
	}{
		{"not JSON", `{"Records":[{"eventSource":"aws:s3",`, "MalformedEvent", "the event is not JSON"},
		{"another bucket", string(mustJSON(t, s3Event("other-bucket", key, info.ETag, info.Size))), "FunctionError",
			`batch-ingest answered 403 Forbidden to the aws:s3 event: {"error":"forbidden: the function of tenant lbatch may only read its own bucket \"acme-lbatch-data\", not \"other-bucket\""}`},
		{"key not URL-encoded", strings.Replace(string(event), url.QueryEscape(key), "incoming/%zz", 1), "FunctionError",
			`answered 400 Bad Request to the aws:s3 event: {"error":"the body is not an S3 event notification (JSON with Records): invalid URL escape \"%zz\""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, le := fn.invoke(t, []byte(tc.event))
			if le == nil || le.Type != tc.wantType || !strings.Contains(le.Message, tc.wantMsg) {
				t.Fatalf("result %s, error %+v; want %s containing %q", out, le, tc.wantType, tc.wantMsg)
			}
		})
	}
}

// checkRow finds ECDC row i in the tenant's covid_daily and compares it
// with the row as generated.
func checkRow(t *testing.T, tenant string, i int) {
	t.Helper()
	want := ecdc.Fields(i)
	var doc bson.M
	err := env.db.Database(tenant).Collection("covid_daily").FindOne(context.Background(),
		bson.D{{Key: "geoId", Value: want["geoId"]}, {Key: "cases", Value: want["cases"]}, {Key: "deaths", Value: want["deaths"]}}).Decode(&doc)
	if err != nil {
		t.Fatalf("row %d (%v) not found: %v", i, want["geoId"], err)
	}
	for _, f := range []string{"countriesAndTerritories", "continentExp", "countryterritoryCode"} {
		if fmt.Sprint(doc[f]) != fmt.Sprint(want[f]) {
			t.Errorf("row %d: %s = %v, want %v", i, f, doc[f], want[f])
		}
	}
	day, err := time.Parse("2/01/2006", want["dateRep"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := doc["dateRep"].(bson.DateTime); !ok || !got.Time().Equal(day) { // the profile's date type
		t.Errorf("row %d: dateRep = %#v, want the date %s", i, doc["dateRep"], day.Format("2006-01-02"))
	}
}

// sqsEvent is the batch Lambda polls from a queue: one message per body.
func sqsEvent(bodies []string) (events.SQSEvent, []string) {
	var ev events.SQSEvent
	var ids []string
	for i, b := range bodies {
		id := fmt.Sprintf("059f36b4-87a3-44ab-83d2-%012d", i)
		ids = append(ids, id)
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: id, ReceiptHandle: "AQEB" + strconv.Itoa(i), Body: b,
			Attributes:     map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1593993600000"},
			EventSource:    "aws:sqs",
			EventSourceARN: "arn:aws:sqs:eu-north-1:123456789012:lsqs-ingest", AWSRegion: "eu-north-1",
		})
	}
	return ev, ids
}

// The stream app on Lambda, triggered by SQS: a poison message and one that
// does not fit the schema come back as batchItemFailures, the others are
// stored, and a redelivery stores nothing twice.
func TestStreamIngestTakesSQSBatches(t *testing.T) {
	const tenant = "lsqs"
	ctx := context.Background()
	fn := startFunction(t, "stream-ingest", functionEnv(tenant, ecdc.Profile(tenant, ecdc.SourceNames, ""), ""))

	var bodies []string
	for i := range 20 {
		bodies = append(bodies, string(ecdc.JSON(i)))
	}
	bodies[5] = "not json {"
	bodies[12] = strings.Replace(bodies[12], `"cases":`, `"cases":"many","was":`, 1)
	ev, ids := sqsEvent(bodies)
	event := mustJSON(t, ev)

	coll := env.db.Database(tenant).Collection("covid_daily")
	for _, delivery := range []string{"first", "redelivered"} {
		var resp events.SQSEventResponse
		if err := json.Unmarshal(fn.mustInvoke(t, event), &resp); err != nil {
			t.Fatal(err)
		}
		want := []events.SQSBatchItemFailure{{ItemIdentifier: ids[5]}, {ItemIdentifier: ids[12]}}
		if !reflect.DeepEqual(resp.BatchItemFailures, want) {
			t.Fatalf("%s: batchItemFailures = %+v, want messages 5 and 12: %+v", delivery, resp.BatchItemFailures, want)
		}
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 18 {
			t.Fatalf("%s: covid_daily holds %d documents (%v), want the 18 good messages", delivery, n, err)
		}
	}
	checkRow(t, tenant, 0)
	checkRow(t, tenant, 19)
	// Lambda's answer has no room for reasons: they are in the log.
	for _, reason := range []string{`"record":"` + ids[5] + `","reason":"not valid JSON`, `"record":"` + ids[12] + `","reason":"field cases: \"many\" is not an int"`} {
		if !strings.Contains(fn.out.String(), reason) {
			t.Errorf("the log lacks %s", reason)
		}
	}

	// An SQS event without message ids cannot be answered record by record.
	bad, _ := sqsEvent([]string{string(ecdc.JSON(40)), string(ecdc.JSON(41))})
	bad.Records[1].MessageId = ""
	out, le := fn.invoke(t, mustJSON(t, bad))
	if le == nil || le.Type != "MalformedEvent" || le.Message != "SQS record 2 of 2 has no messageId" {
		t.Fatalf("result %s, error %+v; want MalformedEvent naming the record without a messageId", out, le)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{}); n != 18 {
		t.Errorf("a malformed event stored something: %d documents", n)
	}
}

// The stream app on Lambda, triggered by Kinesis: failures are reported by
// sequence number; without a business key documents are identified by the
// record's eventID, so a redelivery rewrites rather than adds.
func TestStreamIngestTakesKinesisBatches(t *testing.T) {
	const tenant = "lkinesis"
	ctx := context.Background()
	noKey := strings.Replace(ecdc.Profile(tenant, ecdc.SourceNames, ""), "  key: [geoId, dateRep]\n", "", 1)
	fn := startFunction(t, "stream-ingest", functionEnv(tenant, noKey, ""))

	var ev events.KinesisEvent
	for i := range 10 {
		data := ecdc.JSON(100 + i)
		if i == 3 {
			data = []byte(`[1,2,3]`) // JSON, but not one record
		}
		seq := fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i)
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			AwsRegion: "eu-north-1", EventID: "shardId-000000000000:" + seq, EventName: "aws:kinesis:record",
			EventSource: "aws:kinesis", EventSourceArn: "arn:aws:kinesis:eu-north-1:123456789012:stream/lkinesis",
			EventVersion: "1.0", InvokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-kinesis",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: time.Unix(1593993600, 0)},
				Data:                        data, PartitionKey: "covid", SequenceNumber: seq, KinesisSchemaVersion: "1.0",
			},
		})
	}
	event := mustJSON(t, ev)
	coll := env.db.Database(tenant).Collection("covid_daily")
	for _, delivery := range []string{"first", "redelivered"} {
		var resp events.KinesisEventResponse
		if err := json.Unmarshal(fn.mustInvoke(t, event), &resp); err != nil {
			t.Fatal(err)
		}
		want := []events.KinesisBatchItemFailure{{ItemIdentifier: ev.Records[3].Kinesis.SequenceNumber}}
		if !reflect.DeepEqual(resp.BatchItemFailures, want) {
			t.Fatalf("%s: batchItemFailures = %+v, want record 3's sequence number", delivery, resp.BatchItemFailures)
		}
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 9 {
			t.Fatalf("%s: covid_daily holds %d documents (%v), want 9", delivery, n, err)
		}
	}
	checkRow(t, tenant, 100)
	checkRow(t, tenant, 109)

	// Bad base64 in a record's data is named, and nothing is called.
	raw := strings.Replace(string(event), `"data":"`, `"data":"%%`, 1)
	if _, le := fn.invoke(t, []byte(raw)); le == nil || le.Type != "MalformedEvent" || !strings.Contains(le.Message, "the event is not a Kinesis event: illegal base64 data") {
		t.Fatalf("error %+v, want MalformedEvent naming the base64", le)
	}
}

// Any other event reaches the function as its body, unchanged: the stats
// function will take its reports this way. echo answers with the body.
func TestOtherEventsPassThrough(t *testing.T) {
	fn := startFunction(t, "echo", nil)
	for _, event := range []string{
		`{"tenant":"tenant1","kind":"stream","messages":500,"bytes":1024}`,
		`{"Records":[{"eventSource":"aws:dynamodb","eventName":"INSERT"}]}`,
		`[{"tenant":"tenant2"}]`,
	} {
		out := fn.mustInvoke(t, []byte(event))
		var got, want any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal([]byte(event), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("echo returned %s for %s", out, event)
		}
	}
	if _, le := fn.invoke(t, []byte("tenant1 says hi")); le == nil || le.Type != "MalformedEvent" ||
		!strings.HasPrefix(le.Message, "the event is not JSON: invalid character") {
		t.Fatalf("error %+v, want MalformedEvent: not JSON", le)
	}
}
