package stats

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// DatasetQuality is the data quality of one tenant's dataset over a time
// range: the metadata of its files and stream windows, merged.
type DatasetQuality struct {
	Tenant  string `json:"tenant"`
	Dataset string `json:"dataset"`
	// Files and Windows count the finished files and the stream windows
	// whose metadata is merged here.
	Files   int64            `json:"files"`
	Windows int64            `json:"windows"`
	Quality contract.Quality `json:"quality"`
}

// qualities accumulates DatasetQuality by tenant and dataset.
type qualities map[[2]string]*DatasetQuality

func (qs qualities) add(e *entry, file bool) {
	for ds, q := range e.Quality {
		k := [2]string{e.Tenant, ds}
		dq := qs[k]
		if dq == nil {
			dq = &DatasetQuality{Tenant: e.Tenant, Dataset: ds}
			qs[k] = dq
		}
		if file {
			dq.Files++
		} else {
			dq.Windows++
		}
		dq.Quality.Merge(q)
	}
}

// list is the tenant's datasets (every tenant's when tenant is ""),
// sorted, without the sketches (their estimates stay in Distinct).
func (qs qualities) list(tenant string) []DatasetQuality {
	out := []DatasetQuality{}
	for _, dq := range qs {
		if tenant != "" && dq.Tenant != tenant {
			continue
		}
		d := *dq
		fields := make(map[string]contract.FieldQuality, len(d.Quality.Fields))
		for name, f := range d.Quality.Fields {
			f.Sketch = nil
			fields[name] = f
		}
		d.Quality.Fields = fields
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Dataset < out[j].Dataset
	})
	return out
}

// writeQuality renders the quality table: per tenant and dataset, the
// rows checked and quarantined, each rule's failures and the fields not
// always present.
func writeQuality(w io.Writer, qs []DatasetQuality) {
	fmt.Fprintln(w, "\nQUALITY\tdataset\tfiles\twindows\trows checked\tquarantined\trule failures\tcompleteness under 100%")
	if len(qs) == 0 {
		fmt.Fprintln(w, "no dataset with quality rules reported in this range\t\t\t\t\t\t\t")
	}
	for _, d := range qs {
		q := d.Quality
		var rules []string
		for _, name := range slices.Sorted(maps.Keys(q.Rules)) {
			r := q.Rules[name]
			rules = append(rules, fmt.Sprintf("%s(%s)=%d", name, r.Severity, r.Failures))
		}
		var fields []string
		for _, name := range slices.Sorted(maps.Keys(q.Fields)) {
			if f := q.Fields[name]; f.Completeness < 1 {
				fields = append(fields, fmt.Sprintf("%s %.1f%%", name, 100*f.Completeness))
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", d.Tenant, d.Dataset, d.Files, d.Windows, q.RowsChecked,
			q.RowsQuarantined, cell(rules), cell(fields))
	}
}

func cell(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return tabCell(strings.Join(items, " "))
}
