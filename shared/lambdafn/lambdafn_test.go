package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// What the adapter sends, shared/streamingest reads, and back.
func TestWireTypesMatchStreamingest(t *testing.T) {
	sent := contract.Batch{Tenant: "tenant1", Records: []contract.Record{{
		ID: "m-1", Subject: "", Headers: map[string][]string{"k": {"v"}},
		Data: []byte(`{"a":1}`), PublishedAt: time.Date(2020, 7, 6, 10, 0, 0, 5, time.UTC),
	}}}
	b, err := json.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	var got contract.Batch
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := contract.Batch{Tenant: "tenant1", Records: []contract.Record{{
		ID: "m-1", Headers: map[string][]string{"k": {"v"}}, Data: []byte(`{"a":1}`), PublishedAt: sent.Records[0].PublishedAt,
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("streamingest reads %+v, want %+v", got, want)
	}

	resp := contract.Response{BatchItemFailures: []contract.ItemFailure{{ItemIdentifier: "m-1", Reason: "field cases: not an int"}}}
	b, _ = json.Marshal(resp)
	var back contract.Response
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.BatchItemFailures) != 1 || back.BatchItemFailures[0] != (contract.ItemFailure{ItemIdentifier: "m-1", Reason: "field cases: not an int"}) {
		t.Fatalf("adapter reads %+v from %s", back, b)
	}
}

const sqsEvent = `{"Records":[
 {"messageId":"m-1","receiptHandle":"r1","body":"{\"a\":1}","attributes":{"SentTimestamp":"1593993600000"},
  "messageAttributes":{"source":{"stringValue":"app","dataType":"String"}},"eventSource":"aws:sqs","eventSourceARN":"arn:aws:sqs:eu-north-1:1:q"},
 {"messageId":"m-2","receiptHandle":"r2","body":"not json","attributes":{},"eventSource":"aws:sqs"}]}`

// data is base64 of {"a":1} and {"a":2}.
const kinesisEvent = `{"Records":[
 {"eventID":"shardId-000000000000:111","eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"111","partitionKey":"p","data":"eyJhIjoxfQ==","approximateArrivalTimestamp":1593993600.5}},
 {"eventID":"shardId-000000000000:222","eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"222","partitionKey":"p","data":"eyJhIjoyfQ==","approximateArrivalTimestamp":1593993601}}]}`

const s3Event = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"incoming/x.csv","size":3,"eTag":"e"}}}]}`

// seen is what the function was asked.
type seen struct {
	header http.Header
	body   []byte
}

// function answers with status and body and records the request.
func function(status int, body string, got *seen) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got.header = r.Header.Clone()
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestInvokeConvertsEvents(t *testing.T) {
	tests := []struct {
		name       string
		event      string
		status     int
		answer     string
		wantSource string
		// wantBody checks the request body the function got.
		wantBody func(t *testing.T, body []byte)
		want     string
	}{
		{
			name: "sqs batch with a failed record", event: sqsEvent, status: 200,
			answer:     `{"batchItemFailures":[{"itemIdentifier":"m-2","reason":"message is not JSON"}]}`,
			wantSource: "aws:sqs",
			wantBody: func(t *testing.T, body []byte) {
				var b contract.Batch
				if err := json.Unmarshal(body, &b); err != nil {
					t.Fatal(err)
				}
				if b.Tenant != "tenant1" || len(b.Records) != 2 || b.Records[0].ID != "m-1" || string(b.Records[0].Data) != `{"a":1}` ||
					b.Records[1].ID != "m-2" || string(b.Records[1].Data) != "not json" ||
					!b.Records[0].PublishedAt.Equal(time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC)) ||
					!reflect.DeepEqual(b.Records[0].Headers, map[string][]string{"source": {"app"}}) {
					t.Fatalf("batch = %+v", b)
				}
			},
			want: `{"batchItemFailures":[{"itemIdentifier":"m-2"}]}`,
		},
		{
			name: "sqs batch all stored", event: sqsEvent, status: 200, answer: `{"batchItemFailures":[]}`, wantSource: "aws:sqs",
			want: `{"batchItemFailures":[]}`,
		},
		{
			name: "kinesis failure is reported by sequence number", event: kinesisEvent, status: 200,
			answer:     `{"batchItemFailures":[{"itemIdentifier":"shardId-000000000000:222","reason":"bad"}]}`,
			wantSource: "aws:kinesis",
			wantBody: func(t *testing.T, body []byte) {
				var b contract.Batch
				if err := json.Unmarshal(body, &b); err != nil {
					t.Fatal(err)
				}
				if len(b.Records) != 2 || b.Records[0].ID != "shardId-000000000000:111" || string(b.Records[1].Data) != `{"a":2}` ||
					b.Records[0].Headers["Kinesis-Partition-Key"][0] != "p" || b.Records[1].PublishedAt.Unix() != 1593993601 {
					t.Fatalf("batch = %+v", b)
				}
			},
			want: `{"batchItemFailures":[{"itemIdentifier":"222"}]}`,
		},
		{
			name: "s3 event goes as it is", event: s3Event, status: 200, answer: `{"status":"done","rows_ok":3}` + "\n",
			wantSource: "aws:s3",
			wantBody:   func(t *testing.T, body []byte) { equalJSON(t, string(body), s3Event) },
			want:       `{"status":"done","rows_ok":3}`,
		},
		{
			name: "other events pass through", event: `{"tenant":"tenant1","kind":"stream","messages":5}`, status: 200, answer: "ok\n",
			wantSource: "passthrough",
			wantBody: func(t *testing.T, body []byte) {
				equalJSON(t, string(body), `{"tenant":"tenant1","kind":"stream","messages":5}`)
			},
			want: `"ok\n"`,
		},
		{
			name: "records of another source pass through", event: `{"Records":[{"eventSource":"aws:dynamodb"}]}`, status: 204,
			wantSource: "passthrough", want: `null`,
		},
		{
			name: "a JSON array passes through", event: `[1,2]`, status: 200, answer: `[3]`, wantSource: "passthrough", want: `[3]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			a := New(function(tt.status, tt.answer, &got), Options{Tenant: "tenant1", Name: "fn"})
			out, err := a.Invoke(context.Background(), []byte(tt.event))
			if err != nil {
				t.Fatal(err)
			}
			equalJSON(t, string(out), tt.want)
			if s := got.header.Get(contract.HeaderEventSource); s != tt.wantSource {
				t.Errorf("event source header = %q, want %q", s, tt.wantSource)
			}
			if h := got.header.Get(contract.HeaderTenant); h != "tenant1" {
				t.Errorf("tenant header = %q", h)
			}
			if tt.wantBody != nil {
				tt.wantBody(t, got.body)
			}
		})
	}
}

func TestInvokeErrors(t *testing.T) {
	tests := []struct {
		name     string
		event    string
		status   int
		answer   string
		wantType string
		wantMsg  string
		called   bool
	}{
		{name: "not JSON", event: `{"Records":[`, wantType: ErrTypeMalformedEvent, wantMsg: "the event is not JSON: unexpected end of JSON input"},
		{name: "sqs record without messageId", event: `{"Records":[{"eventSource":"aws:sqs","body":"{}"},{"eventSource":"aws:sqs"}]}`,
			wantType: ErrTypeMalformedEvent, wantMsg: "SQS record 1 of 2 has no messageId"},
		{name: "kinesis data not base64", event: `{"Records":[{"eventSource":"aws:kinesis","kinesis":{"sequenceNumber":"1","data":"%%%"}}]}`,
			wantType: ErrTypeMalformedEvent, wantMsg: "the event is not a Kinesis event: illegal base64"},
		{name: "kinesis record without sequence number", event: `{"Records":[{"eventSource":"aws:kinesis","kinesis":{"data":"e30="}}]}`,
			wantType: ErrTypeMalformedEvent, wantMsg: "Kinesis record 1 of 1 has no kinesis.sequenceNumber"},
		{name: "mixed sources", event: `{"Records":[{"eventSource":"aws:sqs","messageId":"a"},{"eventSource":"aws:kinesis"}]}`,
			wantType: ErrTypeMalformedEvent, wantMsg: `Records[1].eventSource is "aws:kinesis" but Records[0]'s is "aws:sqs"`},
		{name: "function refuses", event: s3Event, status: 400, answer: `{"error":"malformed S3 event: no Records"}`, called: true,
			wantType: ErrTypeFunction, wantMsg: `fn answered 400 Bad Request to the aws:s3 event: {"error":"malformed S3 event: no Records"}`},
		{name: "function asks to retry later", event: s3Event, status: 429, answer: `{"status":"deferred"}`, called: true,
			wantType: ErrTypeFunction, wantMsg: "fn answered 429 Too Many Requests"},
		{name: "whole batch failed", event: sqsEvent, status: 503, answer: `{"error":"database down"}`, called: true,
			wantType: ErrTypeFunction, wantMsg: `answered 503 Service Unavailable to the aws:sqs event: {"error":"database down"}`},
		{name: "failure of an unknown record", event: sqsEvent, status: 200, answer: `{"batchItemFailures":[{"itemIdentifier":"m-9"}]}`, called: true,
			wantType: ErrTypeBadAnswer, wantMsg: `fn reported record "m-9" as failed, which is not in the aws:sqs batch`},
		{name: "batch answer not JSON", event: kinesisEvent, status: 200, answer: `done`, called: true,
			wantType: ErrTypeBadAnswer, wantMsg: "fn answered 200 with a body that is not a batch response"},
		{name: "answer too large", event: `{}`, status: 200, answer: strings.Repeat("x", MaxResponseBytes+1), called: true,
			wantType: ErrTypeBadAnswer, wantMsg: "fn answered more than 6291456 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			a := New(function(tt.status, tt.answer, &got), Options{Tenant: "tenant1", Name: "fn"})
			out, err := a.Invoke(context.Background(), []byte(tt.event))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Invoke = %s, %v; want an *Error", out, err)
			}
			if e.Type != tt.wantType || !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("error = %s: %s; want %s containing %q", e.Type, e.Message, tt.wantType, tt.wantMsg)
			}
			if tt.wantType == ErrTypeFunction && e.Status != tt.status {
				t.Errorf("status = %d, want %d", e.Status, tt.status)
			}
			if called := got.header != nil; called != tt.called {
				t.Errorf("function called = %v, want %v", called, tt.called)
			}
		})
	}
}

// aws-lambda-go reports an error with its own errorType only when handed a
// messages.InvokeResponse_Error.
func TestRuntimeHandlerReportsErrorType(t *testing.T) {
	h := runtimeHandler{New(http.NotFoundHandler(), Options{})}
	_, err := h.Invoke(context.Background(), []byte("nope"))
	ie, ok := err.(messages.InvokeResponse_Error)
	if !ok || ie.Type != ErrTypeMalformedEvent || !strings.HasPrefix(ie.Message, "the event is not JSON") {
		t.Fatalf("err = %#v", err)
	}
}

func equalJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("result %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("got %s, want %s", got, want)
	}
}
