// Package connector is mysimbdp's OpenFaaS connector between NATS
// JetStream and functions: it pulls events and records from streams, finds
// the functions that subscribe to them through the OpenFaaS gateway,
// invokes them, and settles each message by what the functions answered.
// This package wires the parts together (Config, New, Run); each promise
// below is kept by the package named with it.
//
// Routing (core): a function subscribes through its annotation topic (a
// comma-separated list, as with the OpenFaaS connector-sdk) and belongs to
// the tenant its label com.mysimbdp.tenant names. A topic of a tenant's
// resource — s3:<bucket> or s3:<bucket>/<prefix> (s3event.TopicOwner) or
// ingest.<t>.… (stream.TopicOwner) — is routed only to that tenant's
// functions: an event is never handed to a function of another tenant,
// whatever that function's topic says, and the misconfiguration is
// logged.
//
// Promises every flow keeps (core):
//
//   - A message is acked only once every subscribed function answered 2xx
//     (or, for a batch, took the record), so a crash anywhere before that
//     ends in a redelivery (functions are idempotent by contract).
//   - 429 and 503 answers are deferrals (quota; a dependency outage, a
//     cold start): the message is delivered again after the function's
//     Retry-After, and deferrals never count toward MaxAttempts, so
//     over-quota work is delayed, never dead-lettered. An S3 event
//     deferred by 503s is dead-lettered once UnavailableDeadline (24h)
//     has passed since the first.
//   - A 503 that fnrun marks as its own (contract.HeaderOrigin: the
//     function ran past exec_timeout) is a failure: it would time out
//     again.
//   - Other answers and transport errors are failures, retried with
//     exponential back-off; after MaxAttempts failures the message goes to
//     the dead-letter stream with the reason, and the original is
//     terminated.
//   - While an invocation runs the message's ack deadline is extended, so a
//     long ingestion is not redelivered to a second replica.
//
// The S3 events flow (s3event): MinIO publishes every bucket notification
// to mysimbdp.s3.events (stream S3EVENTS); an s3:ObjectCreated:* record
// under incoming/ in bucket B goes to B's functions subscribed to s3:B,
// or to those of the most specific s3:B/<prefix> its key starts with
// (a dataset's folder, s3:B/incoming/<dataset>/, taken by the tenant's
// own app). A key that none of B's functions takes, while some subscribe
// to B, is dead-lettered at once with the reason; with none at all, the
// event is retried as any failure (a function may be on its way). A
// function is handed at most com.mysimbdp.max-inflight-files events at
// once (default 2, what FerretDB's SQLite takes), within MaxConcurrent;
// the others wait, spending no attempt. A
// deferred event, like one waiting for its next attempt, waits as a
// message schedule in the S3WAITING stream, out of the consumer every
// tenant shares, so that one tenant's held-back files never hold back
// another's. A waiting event is never dropped: past the connector's
// bound on the waiting stream, a deferred event stays unacked where it
// is. The sweep announces again, once, an object left in incoming/ with
// no event pending: the backstop for a lost MinIO notification.
//
// The stream flow (stream): tenant t publishes records to
// ingest.<t>.<dataset>, kept by the stream ingest-<t>. For each subscribed
// function the connector keeps one durable pull consumer and, like a
// Lambda event source mapping, POSTs batches (contract.Batch) of up to
// com.mysimbdp.batch-size records, waiting up to com.mysimbdp.batch-window
// after the first (each payload base64 in "data", or, for a function
// annotated com.mysimbdp.record-encoding raw-json, a JSON object payload as
// is in "json"); the function answers a contract.Response naming the
// records that failed:
//
//   - Records not named are acked; named ones are retried with
//     exponential back-off and, after MaxAttempts, dead-lettered (with the
//     function's reason and the record's id) and terminated. A record
//     named permanent (it can never succeed, e.g. no dataset takes its
//     subject) is dead-lettered at once, spending no retries.
//   - A non-2xx answer, a transport error or an answer that cannot be
//     trusted (unreadable, or naming a record not in the batch) fails the
//     whole batch; 429/503 defer it after Retry-After without counting an
//     attempt, and hold the function's pulls back as long.
//   - Batches in flight per function are replicas × com.mysimbdp.max-inflight
//     (default 1; replicas from the function list, at least 1 so that a
//     function scaled to zero is woken by its first batch), within
//     StreamMaxConcurrent; StreamMaxAckPending and StreamMaxBatchBytes bound
//     what is out and what is in memory.
//   - Consumers are durable and stopped, never deleted, when their function
//     goes: a restarted connector or a redeployed function resumes, and
//     records handed out but never settled come back after AckWait.
//
// Records are delivered at least once and, with concurrency above one,
// not in order: a stream function must be idempotent per record id.
//
// What the connector obeys (control): the KV bucket mysimbdp-control
// pauses a tenant (key paused.<t> = "true"; control.Pause, Resume,
// Paused): its pulls stop within moments and its records stay queued in
// JetStream until it is resumed. The stats function's quota decision
// (key quota.<t>) holds a tenant back the same way, and defers its new
// files until the decision's end.
//
// Asynchronous invocations (async): the gateway keeps each POST
// /async-function/<name> in the stream ASYNC; the connector invokes the
// function with the stored request under the same retry promises, POSTs
// the answer to the call's X-Callback-Url (X-Call-Id, X-Function-Status,
// X-Duration-Seconds), and acks only then.
//
// Scheduled functions (schedule): a function with topic cron-function is
// invoked at every tick of its schedule annotation (cron fields with
// names, descriptors, or @every); each tick fires once across connectors.
package connector
