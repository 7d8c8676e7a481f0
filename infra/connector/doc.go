// Package connector is mysimbdp's OpenFaaS connector between NATS
// JetStream and functions: it pulls events from a stream, finds the
// functions that subscribe to them through the OpenFaaS gateway, invokes
// them, and settles each message by what the functions answered.
//
// The batch flow is the first user: MinIO publishes every bucket
// notification to one subject (mysimbdp.s3.events) captured by one stream
// (S3EVENTS). For an s3:ObjectCreated:* record under incoming/ in bucket B,
// the connector invokes every function that both carries the annotation
// topic=s3:B (a comma-separated list is allowed, as with the OpenFaaS
// connector-sdk) and the label com.mysimbdp.tenant=B: a tenant's id is its
// bucket's name, and an event is never handed to a function of another
// tenant, whatever that function's topic says.
//
// Delivery promises, and how they are kept:
//
//   - A message is acked only once every subscribed function answered 2xx,
//     so a crash anywhere before that ends in a redelivery (functions are
//     idempotent by contract).
//   - 429 and 503 answers are deferrals (quota, cold start): the event is
//     delivered again after the function's Retry-After, and deferrals never
//     count toward MaxAttempts, so over-quota work is delayed, never
//     dead-lettered. A deferred S3 event, like one waiting for its next
//     attempt, waits as a message schedule in the S3WAITING stream, out of
//     the consumer every tenant shares, so that one tenant's held-back
//     files never hold back another's (wait.go).
//   - Other answers and transport errors are failures, retried with
//     exponential back-off; after MaxAttempts failures the event goes to the
//     dead-letter stream with the reason, and the original is terminated.
//   - While an invocation runs the message's ack deadline is extended, so a
//     long ingestion is not redelivered to a second replica.
//
// The generic parts (routing table, invocation with ack-deadline keep-alive,
// delivery-state tracking, back-off, dead-letter publishing) do not know
// about S3; the stream flow reuses them for batches of records.
//
// The stream flow: tenant t publishes records to ingest.<t>.<dataset>,
// kept by the stream ingest-<t> (created by tenant provisioning). A
// function subscribes with the annotation topic=ingest.<t>.> (or a
// narrower subject under it) and the label com.mysimbdp.tenant=<t>; as
// for S3, only t's functions may subscribe to t's subjects. For each
// subscribed function the connector keeps one durable pull consumer
// (StreamConsumerName) and, like a Lambda event source mapping, pulls
// batches of up to com.mysimbdp.batch-size records (default 100, at most
// 1000), waiting up to com.mysimbdp.batch-window after the first one
// (default 50ms), and POSTs each batch as a StreamBatch. The function
// answers a StreamResponse naming the records that failed:
//
//   - Records not named are acked; named ones are retried with
//     exponential back-off and, after MaxAttempts, dead-lettered (with the
//     function's reason and the record's id) and terminated.
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
//   - The KV bucket mysimbdp-control pauses a tenant (key paused.<t> =
//     "true"; see Pause, Resume, Paused): its pulls stop within moments and
//     its records stay queued in JetStream until it is resumed.
//
// Records are delivered at least once and, with concurrency above one,
// not in order: a stream function must be idempotent per record id.
package connector
