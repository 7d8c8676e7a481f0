// Package streamingest is the platform's stream ingestion: given a batch of
// records that the connector pulled from a tenant's JetStream stream
// (ingest.<tenant>.>), it coerces and wrangles each record's JSON payload
// through the tenant's profile (shared/records), stores the good ones in the
// tenant's sink with one unordered bulk write, and answers which records
// failed and why, in AWS Lambda's partial batch response shape. Every
// window it publishes a report (messages, bytes, failures, average
// ingestion time per batch) for the stats function.
//
// It knows nothing of HTTP: functions/stream-ingest calls Ingester.Handle,
// and a Lambda adapter could call the same method. The batch, its records
// and the answer are the wire contract with the connector
// (infra/connector): contract.Batch, contract.Record and contract.Response.
//
// # Contract
//
// Request: POST, Content-Type application/json, header X-Mysimbdp-Tenant:
//
//	{"tenant":"tenant1","records":[{"id":"ingest-tenant1:42",
//	  "subject":"ingest.tenant1.covid","headers":{"Nats-Msg-Id":["abc"]},
//	  "data":"<base64 of the NATS payload>","published_at":"2020-07-06T10:00:00Z"}]}
//
// id is the message's Nats-Msg-Id when the publisher set one, else
// <stream>:<stream sequence>. data is one JSON object: one row with the
// source's field names. The function is deployed with
// com.mysimbdp.record-encoding raw-json, so such a payload comes as
// "json":{...} (as published) instead of "data"; functions/stream-ingest
// makes Data the payload either way before Handle.
//
// Answer: 200 with {"batchItemFailures":[{"itemIdentifier":"<id>",
// "reason":"..."}]}; an empty list means every record is stored. The
// connector acks the others, retries the failed ones with backoff and
// dead-letters a record with its reason after its last attempt. Any other
// status means the whole batch is retried: 400 for a body that is not a
// batch, 403 for another tenant's batch, 500 for a misconfigured function,
// 503 when the database could not be written at all.
//
// # Idempotency
//
// Each good record becomes a document whose _id is deterministic:
// records.KeyID of its business key (sink.key) when the profile has one —
// the same id batch ingestion gives the same row, so a row sent by file and
// by stream is one document and the last one written wins — else
// records.DocID of the tenant and the record id. A redelivered record
// therefore rewrites its document instead of adding one; duplicate-key
// errors are success.
//
// # Environment
//
// ConfigFromEnv reads the same variables as shared/ingest, less the S3 ones:
//
//	MYSIMBDP_PROFILE          the tenant profile, as YAML text (required unless
//	                          MYSIMBDP_PROFILE_SECRET is set)
//	MYSIMBDP_PROFILE_SECRET   name of the OpenFaaS secret holding the profile,
//	                          read from MYSIMBDP_SECRETS_DIR or
//	                          /var/openfaas/secrets
//	MYSIMBDP_MONGO_URI        MongoDB URI of the tenant's database (required)
//	MYSIMBDP_PLATFORM_DB      platform database (default mysimbdp); accepted
//	                          for one environment across the ingest apps,
//	                          stream ingestion stores nothing there yet
//	MYSIMBDP_NATS_URL         NATS URL for window reports; empty means none
//	MYSIMBDP_REPORT_SUBJECT   report subject prefix (default mysimbdp.reports);
//	                          reports go to <prefix>.<tenant>
package streamingest
