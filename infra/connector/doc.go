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
//   - 429 and 503 answers are deferrals (quota, cold start): the message is
//     redelivered after the function's Retry-After, and deferrals never count
//     toward MaxAttempts, so over-quota work is delayed, never dead-lettered.
//   - Other answers and transport errors are failures, retried with
//     exponential back-off; after MaxAttempts failures the event goes to the
//     dead-letter stream with the reason, and the original is terminated.
//   - While an invocation runs the message's ack deadline is extended, so a
//     long ingestion is not redelivered to a second replica.
//
// The generic parts (routing table, invocation with ack-deadline keep-alive,
// delivery-state tracking, back-off, dead-letter publishing) do not know
// about S3, so the stream flow can reuse them for batches of records.
package connector
