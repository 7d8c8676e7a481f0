// Package ingest is the platform's batch ingestion: given an S3 event for an
// object a tenant put under incoming/ in its bucket, it checks the tenant's
// quotas, streams the object through the tenant's profile (shared/records)
// into the tenant's database, quarantines bad rows, records the outcome in
// the platform database, moves the object to processed/ or rejected/ and
// publishes a report for the stats function.
//
// It knows nothing of HTTP: the OpenFaaS function functions/batch-ingest
// calls Batch.HandleEvent, and a Lambda adapter can call the same method with
// the events.S3Event Lambda hands it.
//
// # Environment
//
// ConfigFromEnv reads:
//
//	MYSIMBDP_PROFILE          the tenant profile, as YAML text (required unless
//	                          MYSIMBDP_PROFILE_SECRET is set)
//	MYSIMBDP_PROFILE_SECRET   name of an OpenFaaS secret holding the profile
//	                          YAML (infra/tenant stores it as <tenant>-profile),
//	                          read from MYSIMBDP_SECRETS_DIR or
//	                          /var/openfaas/secrets; used when MYSIMBDP_PROFILE
//	                          is empty
//	MYSIMBDP_S3_ENDPOINT      S3 host:port, e.g. 127.0.0.1:9000 (required)
//	MYSIMBDP_S3_ACCESS_KEY    S3 access key (required, but see below)
//	MYSIMBDP_S3_SECRET_KEY    S3 secret key (required, but see below)
//	MYSIMBDP_S3_SECURE        true for HTTPS (default false)
//	MYSIMBDP_S3_REGION        the bucket's region; empty means ask S3
//	MYSIMBDP_S3_BUCKET        the tenant's bucket (default: the tenant id, as
//	                          infra/tenant names it); on AWS, where bucket
//	                          names are global, the bucket the stack made
//	MYSIMBDP_MONGO_URI        MongoDB URI of the tenant's database
//	                          (required); nothing else is written
//	MYSIMBDP_NATS_URL         NATS URL for reports; empty means no reports
//	MYSIMBDP_REPORT_SUBJECT   report subject prefix (default mysimbdp.reports);
//	                          reports go to <prefix>.<tenant>
//	MYSIMBDP_SINK             empty (default): good rows go to MongoDB;
//	                          "discard": BENCHMARKING ONLY, good rows are
//	                          parsed, batched and counted but not written
//	                          (see Config.Sink)
//
// MYSIMBDP_CREDENTIALS_SECRET names an OpenFaaS secret (infra/tenant
// stores <tenant>-credentials) of NAME=value lines that supplies any of
// these variables left unset: on OpenFaaS the S3 keys and the URLs with
// passwords come from it, so that no credential is an environment variable
// the gateway's API would show.
//
// When neither S3 key is set, the standard AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are used: on AWS Lambda they
// hold the function's execution role credentials.
//
// # Guarantees
//
// Every step is idempotent, so the connector may redeliver an event at any
// time (a non-2xx answer, a crash, a timeout) and the end state is the same:
//
//   - An ingestion is identified by tenant/bucket/key@etag and recorded in
//     the tenant's database, collection mysimbdp_ingestions. A finished one (done or rejected) is never
//     run again: its stored report is returned.
//   - Documents get deterministic ids (see Batch's docID), so re-running a
//     partly ingested file rewrites rather than duplicates.
//   - The object leaves incoming/ only after its record says done or
//     rejected; until then a redelivery finds it where it was.
//
// # Outcomes
//
// A report's status (contract.Status) is one of done, rejected (the file
// as a whole was refused: too large, empty, wrong header, unreadable; rows
// read before a mid-file error stay stored), deferred (over the
// files-per-window quota: retry after contract.BatchReport.RetryAfter, the
// object stays in incoming/), failed (a transient error, returned as an
// error too: retry), skipped (nothing to do: the key is not under
// incoming/, or the object is gone or was replaced by a newer upload,
// which has its own event) and running (only ever seen in the
// ingestions collection, while a file is being read or after a crash).
//
// The files-per-window quota is this package's alone (shared/quota's doc
// says why): a file claims one of its window's slots before it is read,
// and a file over the quota is deferred, never read in part.
//
// The outcome is visible with any S3 client: the object moves to
// processed/<name> or rejected/<name> and <that key>.report.json beside it
// holds the report.
package ingest
