// Package lambdafn runs a mysimbdp function — the http.HandlerFunc its
// handler.go exports — as an AWS Lambda function, unchanged. fnrun.Main
// calls Start when AWS_LAMBDA_RUNTIME_API is set (Lambda's provided.al2023
// runtime, or the runtime interface emulator), so one binary built from the
// golang-mysimbdp template serves OpenFaaS over HTTP and Lambda over the
// Runtime API.
//
// # Why an HTTP adapter
//
// Each function already knows one contract — a POST with a JSON body, an
// answer with a status — and holds all its logic behind it (shared/ingest,
// shared/streamingest). Turning a Lambda event into that request, calling
// the handler in-process and turning the answer back keeps a single code
// path: a tenant's black-box app, written against the OpenFaaS contract,
// runs on Lambda too, and nothing in a function knows where it runs. The
// price is one JSON re-encoding per invocation, small next to the
// database writes.
//
// # Events
//
// The adapter looks at Records[].eventSource of the raw event:
//
//	aws:s3, minio:s3  the S3 event notification is the body, as is: it is
//	                  already what a batch app takes (events.S3Event).
//	aws:sqs           becomes a stream batch {"tenant", "records"} (the wire
//	                  shape of shared/contract.Batch): record id = the
//	                  SQS messageId, data = the body, headers = the string
//	                  message attributes, published_at = SentTimestamp.
//	aws:kinesis       the same, with id = eventID (shardId:sequenceNumber,
//	                  unique in the stream, so documents keyed by it never
//	                  collide across shards), data = the record's data,
//	                  header Kinesis-Partition-Key.
//	anything else     passed through as the body unchanged (a stats report,
//	                  a scheduled event, a test invoke).
//
// The batch's tenant, and the X-Mysimbdp-Tenant header, come from
// MYSIMBDP_TENANT: the stream app still checks them against its profile,
// so a deployment whose profile and tenant disagree fails loudly instead of
// writing into the wrong database.
//
// # Answers
//
// A 2xx answer is the invocation's result: for SQS and Kinesis the
// function's {"batchItemFailures":[{"itemIdentifier","reason"}]} becomes
// events.SQSEventResponse (itemIdentifier = messageId) or
// events.KinesisEventResponse (itemIdentifier = sequenceNumber, which is
// what Lambda checkpoints on); the reasons, which Lambda has no field for,
// are logged. Other 2xx bodies are returned as they are (a non-JSON body as
// a JSON string).
//
// Any other status — 4xx included — becomes a Lambda function error naming
// the status and the function's answer. That keeps the platform's rule "a
// non-2xx answer means retry": Lambda retries an asynchronous S3 invocation
// (twice, then to the on-failure destination), returns a failed SQS batch
// to the queue (redrive policy, then the dead-letter queue) and retries a
// Kinesis batch; nothing is acknowledged that the function did not accept.
// The batch app's 429 "over quota, retry later" is such an error too: the
// object stays in incoming/ and Lambda's retry, or the dead-letter queue,
// keeps the event.
//
// An event the adapter cannot read (not JSON, an SQS record without a
// messageId, a Kinesis record with bad base64, mixed sources) is an error
// of type MalformedEvent whose message says what is wrong; the function is
// not called.
//
// The stream batch's wire types and the headers come from shared/contract,
// which links nothing else: fnrun (and so every function, echo included) imports this
// package, and must not pull a database driver into every binary.
package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Event sources the adapter converts; others pass through.
const (
	SourceS3      = "aws:s3"
	SourceMinIOS3 = "minio:s3"
	SourceSQS     = "aws:sqs"
	SourceKinesis = "aws:kinesis"
)

// MaxResponseBytes is Lambda's limit on a synchronous invocation's result;
// a larger answer cannot be returned, so the adapter stops buffering there.
const MaxResponseBytes = 6 << 20

// Error types an invocation can fail with (Lambda's errorType).
const (
	// ErrTypeMalformedEvent: the event could not be read; the function was
	// not called.
	ErrTypeMalformedEvent = "MalformedEvent"
	// ErrTypeFunction: the function answered with a non-2xx status.
	ErrTypeFunction = "FunctionError"
	// ErrTypeBadAnswer: the function's 2xx answer could not be turned into
	// Lambda's (too large, or a batch answer naming records not in the
	// batch).
	ErrTypeBadAnswer = "BadAnswer"
)

// Error is a failed invocation: Type is Lambda's errorType, Message its
// errorMessage. Status is the function's HTTP status for ErrTypeFunction.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Options configure an Adapter.
type Options struct {
	// Tenant is the batch's tenant for SQS and Kinesis events and the
	// contract.HeaderTenant header; empty sets neither.
	Tenant string
	// Name names the function in errors and logs (AWS_LAMBDA_FUNCTION_NAME).
	Name string
	Log  *slog.Logger
}

// Adapter is a lambda.Handler that serves invocations with an HTTP handler.
type Adapter struct {
	fn   http.Handler
	opts Options
}

// New returns an Adapter calling fn.
func New(fn http.Handler, opts Options) *Adapter {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		opts.Name = "the function"
	}
	return &Adapter{fn: fn, opts: opts}
}

// OptionsFromEnv reads Options from the environment Lambda gives the
// function (contract.EnvTenant and contract.EnvAWSLambdaFunction).
func OptionsFromEnv(getenv func(string) string, log *slog.Logger) Options {
	env, _ := contract.FromEnv(getenv) // neither setting can be malformed
	return Options{Tenant: env.Tenant, Name: env.LambdaFunction, Log: log}
}

// Start serves fn on the Lambda Runtime API named by AWS_LAMBDA_RUNTIME_API
// until the process is stopped; it never returns.
func Start(fn http.Handler, log *slog.Logger) {
	a := New(fn, OptionsFromEnv(os.Getenv, log))
	log.Info("function serving the AWS Lambda runtime API", "tenant", a.opts.Tenant)
	lambda.Start(runtimeHandler{a})
}

// runtimeHandler hands aws-lambda-go the error shape it reports with our
// errorType; any other error would be typed by its Go type name.
type runtimeHandler struct{ a *Adapter }

func (h runtimeHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.a.Invoke(ctx, payload)
	if e := (*Error)(nil); errors.As(err, &e) {
		return nil, messages.InvokeResponse_Error{Type: e.Type, Message: e.Message}
	}
	return out, err
}

// Invoke serves one Lambda invocation.
func (a *Adapter) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	source, err := eventSource(payload)
	if err != nil {
		return nil, a.malformed(ctx, err)
	}
	switch source {
	case SourceSQS:
		return a.invokeSQS(ctx, payload)
	case SourceKinesis:
		return a.invokeKinesis(ctx, payload)
	default: // S3 events and everything else go as they are.
		if source == "" {
			source = "passthrough"
		}
		status, body, err := a.call(ctx, source, payload)
		if err != nil {
			return nil, err
		}
		if err := a.check(ctx, source, status, body); err != nil {
			return nil, err
		}
		return asJSON(body), nil
	}
}

// eventSource is the common eventSource of the event's Records when it is
// one the adapter converts, "" for any other valid JSON.
func eventSource(payload []byte) (string, error) {
	if !json.Valid(payload) {
		var v any
		err := json.Unmarshal(payload, &v)
		return "", fmt.Errorf("the event is not JSON: %v", err)
	}
	var probe struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return "", nil // not an object with a Records list: someone else's event
	}
	source := ""
	for i, r := range probe.Records {
		known := r.EventSource == SourceS3 || r.EventSource == SourceMinIOS3 || r.EventSource == SourceSQS || r.EventSource == SourceKinesis
		if i == 0 {
			if !known {
				return "", nil
			}
			source = r.EventSource
			continue
		}
		if r.EventSource != source {
			return "", fmt.Errorf("Records[%d].eventSource is %q but Records[0]'s is %q: one event holds records of one source", i, r.EventSource, source)
		}
	}
	return source, nil
}

func (a *Adapter) invokeSQS(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, a.malformed(ctx, fmt.Errorf("the event is not an SQS event: %v", err))
	}
	b := contract.Batch{Tenant: a.opts.Tenant, Records: make([]contract.Record, 0, len(ev.Records))}
	for i, m := range ev.Records {
		if m.MessageId == "" {
			return nil, a.malformed(ctx, fmt.Errorf("SQS record %d of %d has no messageId", i+1, len(ev.Records)))
		}
		r := contract.Record{ID: m.MessageId, Data: []byte(m.Body), Headers: sqsHeaders(m.MessageAttributes)}
		if ms, err := strconv.ParseInt(m.Attributes["SentTimestamp"], 10, 64); err == nil {
			r.PublishedAt = time.UnixMilli(ms).UTC()
		}
		b.Records = append(b.Records, r)
	}
	failed, err := a.callBatch(ctx, SourceSQS, b)
	if err != nil {
		return nil, err
	}
	out := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for _, f := range failed {
		// The record id is the messageId: Lambda's identifier as it is.
		out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: f.ItemIdentifier})
	}
	return json.Marshal(out)
}

func sqsHeaders(attrs map[string]events.SQSMessageAttribute) map[string][]string {
	if len(attrs) == 0 {
		return nil
	}
	h := make(map[string][]string, len(attrs))
	for k, v := range attrs {
		switch {
		case v.StringValue != nil:
			h[k] = []string{*v.StringValue}
		case len(v.StringListValues) > 0:
			h[k] = v.StringListValues
		}
	}
	return h
}

func (a *Adapter) invokeKinesis(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, a.malformed(ctx, fmt.Errorf("the event is not a Kinesis event: %v", err))
	}
	b := contract.Batch{Tenant: a.opts.Tenant, Records: make([]contract.Record, 0, len(ev.Records))}
	seq := make(map[string]string, len(ev.Records)) // record id -> sequenceNumber
	for i, r := range ev.Records {
		sn := r.Kinesis.SequenceNumber
		if sn == "" {
			return nil, a.malformed(ctx, fmt.Errorf("Kinesis record %d of %d has no kinesis.sequenceNumber", i+1, len(ev.Records)))
		}
		id := r.EventID
		if id == "" {
			id = sn
		}
		seq[id] = sn
		rec := contract.Record{ID: id, Data: r.Kinesis.Data, PublishedAt: r.Kinesis.ApproximateArrivalTimestamp.UTC()}
		if r.Kinesis.PartitionKey != "" {
			rec.Headers = map[string][]string{"Kinesis-Partition-Key": {r.Kinesis.PartitionKey}}
		}
		b.Records = append(b.Records, rec)
	}
	failed, err := a.callBatch(ctx, SourceKinesis, b)
	if err != nil {
		return nil, err
	}
	out := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for _, f := range failed {
		out.BatchItemFailures = append(out.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: seq[f.ItemIdentifier]})
	}
	return json.Marshal(out)
}

// callBatch POSTs a stream batch and returns the records the function
// answered as failed, each checked to be one of the batch's.
func (a *Adapter) callBatch(ctx context.Context, source string, b contract.Batch) ([]contract.ItemFailure, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode the %s batch: %w", source, err)
	}
	status, answer, err := a.call(ctx, source, body)
	if err != nil {
		return nil, err
	}
	if err := a.check(ctx, source, status, answer); err != nil {
		return nil, err
	}
	var resp contract.Response
	if err := json.Unmarshal(answer, &resp); err != nil {
		return nil, a.badAnswer(ctx, fmt.Sprintf("%s answered %d with a body that is not a batch response ({\"batchItemFailures\":[...]}): %v", a.opts.Name, status, err))
	}
	ids := make(map[string]bool, len(b.Records))
	for _, r := range b.Records {
		ids[r.ID] = true
	}
	for _, f := range resp.BatchItemFailures {
		if !ids[f.ItemIdentifier] {
			// Lambda would fail the whole batch on an unknown identifier
			// anyway; saying so here names the culprit.
			return nil, a.badAnswer(ctx, fmt.Sprintf("%s reported record %q as failed, which is not in the %s batch", a.opts.Name, f.ItemIdentifier, source))
		}
		a.opts.Log.WarnContext(ctx, "record failed", "source", source, "record", f.ItemIdentifier, "reason", f.Reason)
	}
	a.opts.Log.InfoContext(ctx, "batch handled", "source", source, "records", len(b.Records), "failed", len(resp.BatchItemFailures))
	return resp.BatchItemFailures, nil
}

// call runs the function on one POST and returns its status and body.
func (a *Adapter) call(ctx context.Context, source string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build the request for %s: %w", a.opts.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(contract.HeaderEventSource, source)
	if a.opts.Tenant != "" {
		req.Header.Set(contract.HeaderTenant, a.opts.Tenant)
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		req.Header.Set(contract.HeaderCallID, lc.AwsRequestID)
	}
	w := &responseWriter{header: http.Header{}}
	a.fn.ServeHTTP(w, req)
	if w.overflow {
		return 0, nil, a.badAnswer(ctx, fmt.Sprintf("%s answered more than %d bytes, Lambda's limit for a result", a.opts.Name, MaxResponseBytes))
	}
	return w.status(), w.body.Bytes(), nil
}

// check turns a non-2xx answer into a function error.
func (a *Adapter) check(ctx context.Context, source string, status int, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	msg := fmt.Sprintf("%s answered %d %s to the %s event: %s", a.opts.Name, status, http.StatusText(status), source, oneLine(body))
	a.opts.Log.ErrorContext(ctx, "invocation failed; Lambda will retry it", "source", source, "status", status, "answer", oneLine(body))
	return &Error{Type: ErrTypeFunction, Message: msg, Status: status}
}

func (a *Adapter) malformed(ctx context.Context, err error) error {
	a.opts.Log.ErrorContext(ctx, "malformed event", "err", err)
	return &Error{Type: ErrTypeMalformedEvent, Message: err.Error()}
}

func (a *Adapter) badAnswer(ctx context.Context, msg string) error {
	a.opts.Log.ErrorContext(ctx, "unusable answer", "err", msg)
	return &Error{Type: ErrTypeBadAnswer, Message: msg}
}

// asJSON returns a 2xx body as the invocation result: JSON as it is, other
// text as a JSON string (Lambda results are JSON), nothing as null.
func asJSON(body []byte) []byte {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return []byte("null")
	}
	if json.Valid(t) {
		return t
	}
	b, _ := json.Marshal(string(body))
	return b
}

// oneLine shortens an answer for an error message.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 1000 {
		s = s[:1000] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// responseWriter records the function's answer, up to MaxResponseBytes.
type responseWriter struct {
	header   http.Header
	code     int
	body     bytes.Buffer
	overflow bool
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.body.Len()+len(p) > MaxResponseBytes {
		w.overflow = true
		return 0, errors.New("answer over Lambda's result limit")
	}
	return w.body.Write(p)
}

func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
