// Package profile loads and validates a tenant's profile: the one YAML file
// per tenant that says what the platform accepts from that tenant (batch and
// stream limits, storage, scaling), how its records become documents (the
// sink's schema, business key and wrangling), and whether the platform runs
// its generic ingest apps for it or the tenant brings its own (apps).
//
// Profiles are read by people as much as by programs, so loading reports
// every problem at once, each with the file, line and field path it concerns
// (e.g. `tenants/t1.yaml:7: batch.max_file_size: "4GBB" is not a size`).
//
// Names used in a profile come in two kinds. Source names are the names in
// the tenant's files and messages: sink.schema[].name, the keys of
// wrangling.rename and of wrangling.dates. Stored names are the names in the
// documents written to the sink, after renames and derived fields:
// wrangling.derive[].from, wrangling.drop and sink.key use stored names.
// Wrangling runs in this order: coerce each schema field (parsing dates with
// wrangling.dates), rename, derive (in order), drop.
package profile
