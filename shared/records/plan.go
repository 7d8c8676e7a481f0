package records

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Plan is a tenant profile compiled for reading records: the schema's
// coercions, the wrangling steps and the batch input options. It is
// immutable and safe to share between goroutines; each Reader has its own
// state.
type Plan struct {
	tenant  string
	columns []column       // schema fields, in order: slots 0..len-1
	slot    map[string]int // source name → slot
	derive  []derived      // slots len(columns)...
	out     []output       // the document's fields, in order
	key     []int          // slots of the business key
	// dateSlot marks the slots that hold a date (type date, or a copy of
	// one): a date is stored as a BSON date but keyed and concatenated as
	// its "yyyy-mm-dd" text, so that ids and derived text are what they
	// were when dates were stored as text.
	dateSlot []bool

	rejectUnknown bool
	// keepRaw makes a Reader keep each good record's text (Record.Raw).
	keepRaw      bool
	formats      []profile.Format
	gzip         bool
	delim        byte
	header       bool
	maxFileSize  int64
	maxGzipRatio int64
	maxRecord    int
}

// column is one schema field and how to coerce it.
type column struct {
	name     string
	typ      profile.FieldType
	required bool
	layouts  []profile.Layout
	// layoutNames is for reasons: "in layout d/m/yyyy".
	layoutNames string
}

type derived struct {
	op       profile.DeriveOp
	from     []int
	fromDate []bool // whether each from slot holds a date
	sep      string
	value    string
}

type output struct {
	name string
	slot int
}

// Compile validates the profile and compiles it into a Plan.
func Compile(p *profile.Profile) (*Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("compile profile of tenant %q: %w", p.Tenant, err)
	}
	w := p.Wrangling
	pl := &Plan{
		tenant:        p.Tenant,
		slot:          map[string]int{},
		rejectUnknown: p.Sink.UnknownFields != profile.UnknownIgnore,
		formats:       p.Batch.Formats,
		gzip:          p.Batch.Gzip,
		delim:         p.Batch.CSV.Delimiter[0],
		header:        p.Batch.CSV.Header,
		maxFileSize:   int64(p.Batch.MaxFileSize),
		maxGzipRatio:  int64(p.Batch.MaxGzipRatio),
		maxRecord:     int(p.Batch.MaxRecordSize),
	}
	stored := map[string]int{} // stored name → slot
	for i, f := range p.Sink.Schema {
		c := column{name: f.Name, typ: f.Type, required: f.Required}
		if f.Type.IsTime() {
			names := w.Dates[f.Name]
			if len(names) == 0 {
				names = []string{profile.ISODate}
				if f.Type == profile.TypeDatetime {
					names = []string{"rfc3339"}
				}
			}
			for _, n := range names {
				l, err := profile.ParseLayout(n)
				if err != nil { // Validate has checked; kept for safety
					return nil, fmt.Errorf("compile date layout of field %s: %w", f.Name, err)
				}
				c.layouts = append(c.layouts, l)
			}
			c.layoutNames = strings.Join(names, ", ")
		}
		pl.columns = append(pl.columns, c)
		pl.dateSlot = append(pl.dateSlot, f.Type == profile.TypeDate)
		pl.slot[f.Name] = i
		name := f.Name
		if to, ok := w.Rename[f.Name]; ok {
			name = to
		}
		stored[name] = i
		pl.out = append(pl.out, output{name: name, slot: i})
	}
	for i, d := range w.Derive {
		slot := len(pl.columns) + i
		dv := derived{op: d.Op, sep: d.Sep, value: d.Value}
		for _, from := range d.From {
			dv.from = append(dv.from, stored[from])
			dv.fromDate = append(dv.fromDate, pl.dateSlot[stored[from]])
		}
		pl.derive = append(pl.derive, dv)
		pl.dateSlot = append(pl.dateSlot, d.Op == profile.OpCopy && dv.fromDate[0])
		stored[d.Name] = slot
		pl.out = append(pl.out, output{name: d.Name, slot: slot})
	}
	if len(w.Drop) > 0 {
		drop := map[string]bool{}
		for _, n := range w.Drop {
			drop[n] = true
		}
		kept := pl.out[:0]
		for _, o := range pl.out {
			if !drop[o.name] {
				kept = append(kept, o)
			}
		}
		pl.out = kept
	}
	for _, k := range p.Sink.Key {
		pl.key = append(pl.key, stored[k])
	}
	return pl, nil
}

// KeepRaw returns a copy of the plan whose Readers keep each good
// record's text in Record.Raw (for a raw copy of the records; it costs a
// copy of every row).
func (pl *Plan) KeepRaw() *Plan {
	q := *pl
	q.keepRaw = true
	return &q
}

// Tenant is the tenant the plan was compiled for.
func (pl *Plan) Tenant() string { return pl.tenant }

// slots is the number of values a record has before it becomes a document.
func (pl *Plan) slots() int { return len(pl.columns) + len(pl.derive) }

// document derives the computed fields into vals and builds the document
// and its key. vals holds the coerced schema values in its first slots.
func (pl *Plan) document(vals []any) (bson.D, []any) {
	n := len(pl.columns)
	for i, d := range pl.derive {
		vals[n+i] = d.apply(vals)
	}
	doc := make(bson.D, len(pl.out))
	for i, o := range pl.out {
		doc[i] = bson.E{Key: o.name, Value: vals[o.slot]}
	}
	var key []any
	if len(pl.key) > 0 {
		key = make([]any, len(pl.key))
		for i, s := range pl.key {
			key[i] = vals[s]
			if t, ok := key[i].(time.Time); ok && pl.dateSlot[s] {
				key[i] = t.Format(time.DateOnly)
			}
		}
	}
	return doc, key
}

func (d derived) apply(vals []any) any {
	switch d.op {
	case profile.OpCopy:
		return vals[d.from[0]]
	case profile.OpConstant:
		return d.value
	}
	var b strings.Builder
	for i, s := range d.from {
		if i > 0 {
			b.WriteString(d.sep)
		}
		if t, ok := vals[s].(time.Time); ok && d.fromDate[i] {
			b.WriteString(t.Format(time.DateOnly))
			continue
		}
		b.WriteString(text(vals[s]))
	}
	return b.String()
}

// text renders a coerced value for concat; null is "".
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}
