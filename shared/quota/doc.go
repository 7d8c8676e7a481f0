// Package quota is the platform's quota state, kept in NATS KV so that every
// part reads the same thing wherever it runs:
//
//   - the tenants' profiles as published by onboarding (bucket
//     contract.ProfileBucket, one key per tenant, the profile's YAML),
//     which the stats function compares the tenants' windows with;
//   - the stats function's decisions (bucket contract.ControlBucket, key
//     quota.<tenant>, a JSON Decision), which the connector obeys: a tenant
//     throttled or blocked gets no stream deliveries and its new files are
//     deferred until the decision's Until.
//
// Evaluate is the rule the stats function applies (profile + recent usage
// + the decision in force -> the next decision); Changed says whether a
// new decision is worth writing, and Current/Replace write it only over
// the revision it was judged against, so that concurrent evaluators do
// not both write.
//
// One owner per quota. The stats function decides what can only be known
// after the fact, from reports and the database: messages and bytes per
// stream window, and storage. Files per batch window are not decided here:
// batch ingestion claims one of the window's slots before it reads a file
// (shared/ingest), which is exact for files arriving together, where a
// verdict from reports would come after they were all read.
//
// A decision carries its own end (Until), so a throttled tenant resumes on
// time even when no report arrives to lift it: a throttled tenant sends
// none.
package quota
