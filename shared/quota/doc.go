// Package quota is the platform's quota state, kept in NATS KV so that every
// part reads the same thing wherever it runs:
//
//   - the tenants' profiles as published by onboarding (bucket
//     ProfileBucket, one key per tenant, the profile's YAML), which the stats
//     function compares the tenants' windows with;
//   - the stats function's decisions (bucket ControlBucket, key
//     quota.<tenant>, a JSON Decision), which the connector obeys: a tenant
//     throttled or blocked gets no stream deliveries and its new files are
//     deferred until the decision's Until.
//
// A decision carries its own end (Until), so a throttled tenant resumes on
// time even when no report arrives to lift it: a throttled tenant sends
// none.
package quota
