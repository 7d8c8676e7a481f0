// Package stats is the platform's view of what every tenant ingests and the
// quota control built on it. It is what functions/stats runs:
//
//   - Ingest takes a batch of reports as the connector delivers them from
//     the REPORTS stream (subjects mysimbdp.reports.<tenant>): the batch
//     apps' per-file contract.BatchReport (kind "batch") and the stream apps'
//     contract.WindowReport (kind "stream"). Each is stored once in the
//     platform database under its record id, so a redelivered record is
//     never counted twice, and each finished file once under its
//     bucket/key@etag, so a file reported twice is one file. The platform
//     windows the batch touched are then recomputed from what is stored,
//     per tenant and for the whole platform ("_all").
//   - Evaluate compares every onboarded tenant's recent usage with its
//     profile (quota.Evaluate) and writes the decisions that change to the
//     control KV bucket the connector obeys, logs them and keeps their
//     history.
//   - Summary answers for a time range with per-tenant and overall
//     figures, each tenant's decision in force and the recent decisions;
//     WriteText renders it as a table for people.
//
// Figures: files, rows ok and rejected, bytes read, deferrals and failed
// attempts come from batch reports (a file counts once, when done or
// rejected; a deferral or failure counts per report); messages, bytes,
// failures and batches from stream window reports. Ingestion times are per
// file (batch) and per delivered batch (stream), averaged exactly and with
// a 95th percentile from a bounded histogram (within 10%).
//
// # Storage (platform database)
//
//	stats_reports    every report, _id = the record id; at = ended_at
//	                 (batch) or window_end (stream)
//	stats_files      every finished file, _id = bucket/key@etag: the
//	                 source of the file and row totals
//	stats_windows    per platform window and tenant (and "_all"), _id =
//	                 <tenant>@<window start>, recomputed from the two above
//	stats_decisions  every quota decision written, as quota.Decision
//
// Only finds, inserts and single-document replaces are used, and sums are
// made in Go, so it runs on FerretDB v1 as well as on MongoDB.
//
// # Environment
//
// ConfigFromEnv reads:
//
//	MYSIMBDP_MONGO_URI        MongoDB URI of the platform database and of the
//	                          tenants' databases, whose size storage quotas
//	                          measure (required)
//	MYSIMBDP_PLATFORM_DB      platform database (default mysimbdp)
//	MYSIMBDP_NATS_URL         NATS URL: profiles (KV mysimbdp-profiles) and
//	                          decisions (KV mysimbdp-control) (required)
//	MYSIMBDP_REPORT_SUBJECT   report subject prefix (default
//	                          mysimbdp.reports): a report on
//	                          <prefix>.<tenant> must be that tenant's
//	MYSIMBDP_STATS_WINDOW     the platform aggregation window (default 10s);
//	                          also how long a measured database size is
//	                          reused
//	MYSIMBDP_JS_REPLICAS      replicas of the decisions bucket if the stats
//	                          function creates it (default 1)
package stats
