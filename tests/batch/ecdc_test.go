package batch

import (
	"io"

	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// ECDC-shaped data comes from shared/ecdc.

const ecdcHeader = ecdc.Header

func ecdcCSV(from, to int) []byte { return ecdc.CSV(from, to) }

// newECDCStream generates rows [0, n) on the fly, each followed by pad, so a
// large upload is never in memory.
func newECDCStream(n int, extraHeader, pad string) io.Reader {
	return ecdc.NewReader(0, n, ecdc.Options{ExtraHeader: extraHeader, Pad: pad})
}

// Profiles: tenant1's and tenant2's shapes (tenants/*.yaml), under a
// tenant id of the test's own so that tests share no bucket or database.
// batch is the YAML of the batch section's limits.

// defaultLimits are generous limits for tests that are not about quotas.
const defaultLimits = `  max_file_size: 64MiB
  max_files_per_window: 100
  window: 1m
  formats: [csv, json, ndjson]`

// tenant1Profile and tenant2Profile are the demo tenants' shapes
// (shared/ecdc.Profile) under a tenant id of the test's own, so that tests
// share no bucket or database; batch is the batch section's limits.
func tenant1Profile(tenant, batch string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, "batch:\n"+batch+"\n")
}

func tenant2Profile(tenant, batch string) string {
	return ecdc.Profile(tenant, ecdc.SnakeCase, "batch:\n"+batch+"\n")
}
