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

func tenant1Profile(tenant, batch string) string {
	return `tenant: ` + tenant + `
batch:
` + batch + `
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

func tenant2Profile(tenant, batch string) string {
	return `tenant: ` + tenant + `
batch:
` + batch + `
sink:
  collection: ecdc_cases
  unknown_fields: ignore
  schema:
    - {name: dateRep, type: date, required: true}
    - {name: day, type: int}
    - {name: month, type: int}
    - {name: year, type: int}
    - {name: cases, type: int, required: true}
    - {name: deaths, type: int, required: true}
    - {name: countriesAndTerritories, type: string, required: true}
    - {name: geoId, type: string, required: true}
    - {name: countryterritoryCode, type: string}
    - {name: popData2019, type: int}
    - {name: continentExp, type: string}
  key: [geo_id, report_date]
wrangling:
  rename:
    dateRep: report_date
    countriesAndTerritories: country
    geoId: geo_id
    countryterritoryCode: country_code
    popData2019: population_2019
    continentExp: continent
  dates:
    dateRep: [d/m/yyyy, yyyy-mm-dd]
  derive:
    - {name: record_id, op: concat, from: [geo_id, report_date], sep: ":"}
    - {name: source, op: constant, value: ecdc}
  drop: [day, month, year]
`
}

// defaultLimits are generous limits for tests that are not about quotas.
const defaultLimits = `  max_file_size: 64MiB
  max_files_per_window: 100
  window: 1m
  formats: [csv, json, ndjson]`
