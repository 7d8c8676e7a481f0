// Package core is what every flow of the connector shares, and knows
// nothing of what the messages are: which functions subscribe to what
// (functions.go: the routing table, read from the gateway's function
// list), invoking a function while the message's ack deadline is extended
// (invoke.go), how a message ends — acked, redelivered later, or
// dead-lettered and terminated (settle.go) — what is remembered about a
// message between its deliveries (tracker.go), the back-off between
// attempts (retry.go) and the series every flow counts in (metrics.go).
//
// The flows (infra/connector/s3event, stream, schedule) decide; core
// carries out.
package core
