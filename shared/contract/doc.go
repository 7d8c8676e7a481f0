// Package contract is the one declaration of what passes between
// mysimbdp's parts and tenants' apps: subject, stream, consumer and KV
// names (names.go), HTTP headers, labels and annotations (names.go), the
// environment every part is configured by (env.go), the stream batch a
// stream function is POSTed and its answer (batch.go), the rows a
// tenant's own quality checker is POSTed and its rule results
// (checker.go), and the reports ingest functions publish (report.go).
//
// It imports nothing but the standard library, so that every binary — a
// tenant's own function too — can speak it without linking a database or
// messaging client, as OpenFaaS's faas-provider/types is shared by the
// gateway and every provider. A name that crosses a process boundary is
// declared here and nowhere else; a test (literals_test.go) fails when one
// is written as a string literal outside this package.
package contract
