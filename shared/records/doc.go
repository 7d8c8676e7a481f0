// Package records turns a tenant's files and messages into documents for
// its sink, as its profile says: it streams CSV, JSON-array and NDJSON input
// (optionally gzip-compressed) record by record without holding the file in
// memory, coerces each record to the schema's types, applies the profile's
// wrangling, and yields either a document or a rejected row with its line,
// reason and raw text, so that one bad row never costs the good ones.
//
// It also holds what the ingest functions need around that: deterministic
// document ids for idempotent writes (DocID, KeyID) and a Batcher that
// groups documents into bounded bulk writes.
//
// Typical use in a batch function:
//
//	plan, err := records.Compile(prof)
//	rd := plan.NewReader(object, "incoming/cases.csv.gz")
//	for rec, err := range rd.All() {
//		if err != nil { ... } // the file itself is unreadable; rows so far stand
//		if rec.Err != nil { quarantine(rec.Err) ; continue }
//		write(rec.Doc)
//	}
package records
