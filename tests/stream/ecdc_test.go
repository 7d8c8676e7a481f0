package stream

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
)

// ECDC rows as a tenant's app publishes them come from shared/ecdc.Fields;
// delta shifts cases (a correction of the same row).
func ecdcRow(i, delta int) map[string]any {
	row := ecdc.Fields(i)
	row["cases"] = row["cases"].(int) + delta
	return row
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// ecdcBatch is rows [from, to) as the connector delivers them from stream
// sequence from+1 on.
func ecdcBatch(tenant string, from, to, delta int) contract.Batch {
	b := contract.Batch{Tenant: tenant}
	for i := from; i < to; i++ {
		b.Records = append(b.Records, record(tenant, uint64(i+1), mustJSON(ecdcRow(i, delta))))
	}
	return b
}

func record(tenant string, seq uint64, data []byte) contract.Record {
	return contract.Record{
		ID:          contract.RecordID("", "ingest-"+tenant, seq),
		Subject:     "ingest." + tenant + ".covid",
		Data:        data,
		PublishedAt: time.Date(2020, 7, 6, 10, 0, 0, int(seq), time.UTC),
	}
}

// noKeyProfile is tenant1's without a business key: documents are then
// identified by the record id.
func noKeyProfile(tenant string) string {
	return strings.Replace(tenant1Profile(tenant, "5s"), "  key: [geoId, dateRep]\n", "", 1)
}

// tenant1Profile is tenants/tenant1.yaml's shape (shared/ecdc.Profile)
// under the test's own tenant id, so that tests share no database; window
// is stream.window.
func tenant1Profile(tenant, window string) string {
	return ecdc.Profile(tenant, ecdc.SourceNames, "stream:\n  window: "+window+"\n")
}
