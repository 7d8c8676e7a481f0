package ecdc

import "strings"

// Shape is how a tenant stores ECDC rows: the two demo tenants' ways
// (tenants/tenant1.yaml and tenants/tenant2.yaml).
type Shape int

const (
	// SourceNames keeps the file's column names, key (geoId, dateRep).
	SourceNames Shape = iota
	// SnakeCase renames to snake_case, derives record_id and source, drops
	// day/month/year, ignores unknown columns; key (geo_id, report_date).
	SnakeCase
)

// Profile is a tenant profile (shared/profile's YAML) for ECDC data in
// shape, under tenant. sections is more top-level YAML appended as it is,
// such as a batch: or stream: section with a test's limits.
func Profile(tenant string, shape Shape, sections string) string {
	if shape == SnakeCase {
		return "tenant: " + tenant + "\n" + snakeCaseSink + sections
	}
	return "tenant: " + tenant + "\n" + sourceNamesSink + sections
}

const sourceNamesSink = `sink:
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

const snakeCaseSink = `sink:
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

// Dataset is one item of a profile's datasets list (shared/profile's
// YAML, indented to follow "datasets:") for ECDC data in shape, named
// name; more holds more of the dataset's keys (fanout:, quality:, apps:),
// written at the top level of the item without indentation.
func Dataset(name string, shape Shape, more string) string {
	body := sourceNamesSink
	if shape == SnakeCase {
		body = snakeCaseSink
	}
	var b strings.Builder
	b.WriteString("  - name: " + name + "\n")
	for _, line := range strings.Split(strings.TrimRight(body+more, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
