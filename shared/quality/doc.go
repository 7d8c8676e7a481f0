// Package quality is the data-quality rules engine of mysimbdp (issue
// 16): it checks a dataset's stored documents against the rules in the
// dataset's `quality:` list and measures what a file or stream window
// holds. Batch and stream ingestion run it on every row after wrangling,
// quarantine the rows it rejects, fail a file it fails, and keep its
// metadata (contract.Quality) in the platform database and the file's
// report, where the stats function adds it up per tenant and dataset.
// The package is pure: no I/O, no clock (callers pass now).
//
// # Rules
//
// A dataset's `quality:` key is a list of rules. Each has a name (a-z,
// 0-9, '_', '-'; unique in the list), exactly one check, and a severity.
// Fields are named by their stored names, after wrangling:
//
//	quality:
//	  # numeric range: min and/or max, inclusive, on a number field
//	  - name: cases_not_negative
//	    field: cases
//	    min: 0
//	    severity: reject            # reject (default) | warn | fail-file
//	  # present: not absent, not null, not ""
//	  - {name: has_country, field: geoId, required: true}
//	  # one of a list (string, number or bool field)
//	  - {name: continent_known, field: continentExp, allowed: [Europe, Asia, Africa, America, Oceania, Other], severity: warn}
//	  # an RE2 regular expression on a string field (anchor it to match the whole value)
//	  - {name: geo_code, field: geoId, regex: '^[A-Z0-9_]{2,8}$'}
//	  # these fields together at most once per file or window
//	  - {name: one_row_per_country_day, unique: [geoId, dateRep], severity: fail-file, max_share: 0.01}
//	  # day, month and year (any of them) agree with a date, in UTC
//	  - {name: parts_agree, date_parts: {date: dateRep, day: day, month: month, year: year}}
//	  # two fields of a row: < <= == != >= > on numbers and dates, == != on strings and bools
//	  - {name: deaths_le_cases, compare: {left: deaths, op: "<=", right: cases}, severity: warn}
//	  # the newest date of the file or window is at most max_age before now
//	  - {name: fresh, freshness: {field: dateRep, max_age: 72h}, severity: fail-file}
//
// Every check but required passes on a missing value (absent, null or
// ""), as SQL's constraints pass on NULL: pair it with a required rule to
// ask for the value. A row whose unique fields are not all present is not
// checked for uniqueness. Durations are Go durations or days: 72h, 7d,
// 1d12h.
//
// # Severities
//
//   - reject: the row is quarantined with the rule's name and reason, and
//     not stored.
//   - warn: the row is stored; the failure is counted.
//   - fail-file: the row is counted like warn, and the whole file is
//     rejected (the window marked failed) when more than max_share of its
//     rows (0 to 1; 0 when not given, so one row is enough) break the
//     rule.
//
// Freshness is checked once per file or window, on the stored rows, so
// its severity is warn or fail-file (fail-file when not given); a file
// whose stored rows hold no date at all is not fresh, one with no rows
// checked fails nothing. Uniqueness is checked within one file
// or window, on the stored rows: a quarantined row's key does not make a
// later row a repeat.
//
// # Use
//
//	c, err := quality.Compile(rules, kinds, quality.KeyFields(key...)) // once per dataset
//	f := c.NewFile()                                                  // per file or window
//	for each stored document doc, from line n:
//		for _, v := range f.Check(n, doc) { ... quarantine on v.Severity == quality.Reject ... }
//	res := f.Result(now)   // res.OK(), res.Reason(), res.Quality (set its Lineage)
//
// Compile refuses, naming the rule, a rule on an unknown field, a check
// on a field of the wrong kind, a regular expression that does not
// compile, min above max, a rule with no check or with two, a duplicate
// name, max_share without fail-file.
//
// # Metadata
//
// contract.Quality holds, per file or window: the rows checked and the
// rows quarantined; per rule its severity and failures (rows; for
// freshness, 1 when stale); per stored field the rows holding a value
// (present) and their share of the stored rows (completeness), the
// minimum and maximum of a number or date field, and, for the key fields
// named with KeyFields, an approximate distinct count with the
// HyperLogLog sketch it comes from (4 KiB, standard error ≈1.6%), so that
// contract.Quality.Merge can add windows and files up. Quarantined rows
// count in the rows checked and in the failures, not in the field
// metadata: it describes what was stored.
//
// # Memory
//
// A File holds a few words per field and per rule, a 4 KiB sketch per key
// field, and, per uniqueness rule, a table of 12 bytes per slot that
// grows with the distinct keys up to UniqueKeys (DefaultUniqueKeys:
// 786,432 keys in 12 MiB). Past that bound the rule keeps checking rows
// against the keys it holds without adding more, and its metadata says
// so (contract.RuleCount.Note).
package quality
