package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// `tenant apply` says, per dataset, its folder, subjects, collections and
// app, and for an own app the exact label and topic its function needs;
// and what became of the datasets that left the profile.
func TestPrintAppliedDatasets(t *testing.T) {
	p, err := profile.Parse([]byte(`tenant: acme
datasets:
  - name: cases
    sink:
      collection: cases
      schema: [{name: id, type: string, required: true}]
    fanout: [{collection: cases_raw, form: raw}]
  - name: vaccinations
    sink:
      collection: vacc
      schema: [{name: id, type: string, required: true}]
    apps: {batch: own, stream: own}
`), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def, err := profile.Parse([]byte("tenant: acme\nsink:\n  collection: rows\n  schema:\n    - {name: a, type: string}\n"), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    *profile.Profile
		res  tenant.Result
		want []string
	}{
		{"two datasets", p, tenant.Result{
			RemovedDatasets: []tenant.RemovedDataset{
				{Name: "tests", Database: "acme", Collections: []string{"tests", "tests_rejected"}},
				{Name: "old", Earlier: true, Database: "acme", Collections: []string{"old"}, Dropped: true},
				{Name: "default", Database: "acme"},
			},
			UnusedFunctions: []string{"acme-stream-ingest"},
		}, []string{
			"  database   acme\n",
			"  cases\n    files    incoming/cases/ -> platform app (acme-batch-ingest)\n" +
				"    records  ingest.acme.cases, ingest.acme.cases.> -> platform app (acme-stream-ingest)\n" +
				"    rows     cases (rejected rows: cases_rejected), fan-out cases_raw (raw)\n",
			"  vaccinations\n    files    incoming/vaccinations/ -> own app: deploy it with label com.mysimbdp.tenant=acme and annotation topic=s3:acme/incoming/vaccinations/\n" +
				"    records  ingest.acme.vaccinations, ingest.acme.vaccinations.> -> own app: deploy it with label com.mysimbdp.tenant=acme and annotation topic=ingest.acme.vaccinations,ingest.acme.vaccinations.>\n" +
				"    rows     vacc (rejected rows: vacc_rejected)\n",
			"  tests (removed): collections tests, tests_rejected of database acme kept, rows and all (apply with --drop-removed-data to drop them)\n",
			"  old (removed earlier): collections old of database acme dropped\n",
			"  default (removed): nothing of its own to tear down",
			"no dataset uses the platform's acme-stream-ingest any more: left deployed",
		}},
		{"no datasets", def, tenant.Result{}, []string{
			"  database   acme (collection rows)\n",
			"  default\n    files    incoming/ -> platform app (acme-batch-ingest)\n" +
				"    records  ingest.acme.> -> platform app (acme-stream-ingest)\n" +
				"    rows     rows (rejected rows: rows_rejected)\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.res.NATSUsersManaged = true
			var out bytes.Buffer
			printApplied(&out, platformFlags{s3: "127.0.0.1:9000", natsURL: "nats://127.0.0.1:4222"}, tenant.Loaded{Profile: tc.p}, tc.res, tenant.Store{Dir: t.TempDir()})
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.res.RemovedDatasets == nil && strings.Contains(out.String(), "removed") {
				t.Errorf("output speaks of removed datasets:\n%s", out.String())
			}
		})
	}
}
