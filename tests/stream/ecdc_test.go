package stream

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/streamingest"
)

// ECDC rows as a tenant's app publishes them: one JSON object per message
// with the source's field names, and the real data's quirks — a name
// holding a comma, an empty country code and population, negative daily
// counts (the source's corrections), non-ASCII names, and day/month/year
// sometimes as strings (as in ECDC's own JSON download).

type country struct {
	name, geo, code, pop, continent string
}

var countries = [...]country{
	{"Afghanistan", "AF", "AFG", "38041757", "Asia"},
	{"Bonaire, Saint Eustatius and Saba", "BQ", "BES", "25983", "America"},
	{"Benin", "BJ", "BEN", "11801151", "Africa"},
	{"Cases_on_an_international_conveyance_Japan", "JPG11668", "", "", "Other"},
	{"Curaçao", "CW", "CUW", "163423", "America"},
	{"Côte d’Ivoire", "CI", "CIV", "25716554", "Africa"},
}

// ecdcRow is the i-th row: country i%6 on the (i/6)-th day back from
// 2020-07-06, so that every (geoId, dateRep) — the business key — is
// distinct; cases are shifted by delta (a correction of the same row).
func ecdcRow(i, delta int) map[string]any {
	c := countries[i%len(countries)]
	d := time.Date(2020, 7, 6, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -i/len(countries))
	row := map[string]any{
		"dateRep": fmt.Sprintf("%d/%02d/%d", d.Day(), int(d.Month()), d.Year()),
		"day":     d.Day(), "month": int(d.Month()), "year": d.Year(),
		"cases":                   i%997 - 20 + delta, // some negative corrections
		"deaths":                  i % 13,
		"countriesAndTerritories": c.name,
		"geoId":                   c.geo,
		"countryterritoryCode":    c.code,
		"continentExp":            c.continent,
	}
	if i%2 == 1 { // as ECDC's JSON has them
		row["day"], row["month"], row["year"] = fmt.Sprint(d.Day()), fmt.Sprint(int(d.Month())), fmt.Sprint(d.Year())
	}
	if c.pop == "" {
		row["popData2019"] = ""
	} else {
		row["popData2019"] = json.Number(c.pop)
	}
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
func ecdcBatch(tenant string, from, to, delta int) streamingest.Batch {
	b := streamingest.Batch{Tenant: tenant}
	for i := from; i < to; i++ {
		b.Records = append(b.Records, record(tenant, uint64(i+1), mustJSON(ecdcRow(i, delta))))
	}
	return b
}

func record(tenant string, seq uint64, data []byte) streamingest.Record {
	return streamingest.Record{
		ID:          streamingest.RecordID("", "ingest-"+tenant, seq),
		Subject:     "ingest." + tenant + ".covid",
		Data:        data,
		PublishedAt: time.Date(2020, 7, 6, 10, 0, 0, int(seq), time.UTC),
	}
}

// tenant1Profile is tenants/tenant1.yaml's shape under the test's own
// tenant id, so that tests share no database; window is stream.window.
func tenant1Profile(tenant, window string) string {
	return `tenant: ` + tenant + `
stream:
  window: ` + window + `
sink:
  collection: covid_daily
  unknown_fields: reject
  schema:
    - {name: dateRep, type: date, required: true}
    - {name: day, type: int, required: true}
    - {name: month, type: int, required: true}
    - {name: year, type: int, required: true}
    - {name: cases, type: int, required: true}
    - {name: deaths, type: int, required: true}
    - {name: countriesAndTerritories, type: string, required: true}
    - {name: geoId, type: string, required: true}
    - {name: countryterritoryCode, type: string}
    - {name: popData2019, type: int}
    - {name: continentExp, type: string, required: true}
  key: [geoId, dateRep]
wrangling:
  dates:
    dateRep: d/m/yyyy
`
}

// noKeyProfile is tenant1's without a business key: documents are then
// identified by the record id.
func noKeyProfile(tenant string) string {
	return strings.Replace(tenant1Profile(tenant, "5s"), "  key: [geoId, dateRep]\n", "", 1)
}
