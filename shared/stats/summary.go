package stats

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// Bounds of a summary's range and lists: the work of one GET is bounded.
const (
	DefaultSince = time.Hour
	MaxSince     = 7 * 24 * time.Hour
	maxDecisions = 50
	maxWindows   = 60
)

// Summary is the stats of a time range.
type Summary struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Window is the platform aggregation window.
	Window  string          `json:"window"`
	Tenants []TenantSummary `json:"tenants"`
	All     Figures         `json:"all"`
	// Decisions are the quota decisions of the range, newest first (at
	// most 50).
	Decisions []quota.Decision `json:"decisions"`
	// Windows are the platform's windows of the range, newest first (at
	// most 60).
	Windows []Window `json:"windows"`
	// Quality is the data quality of each dataset with quality rules
	// that reported in the range, by tenant and dataset.
	Quality []DatasetQuality `json:"quality"`
}

// TenantSummary is one tenant's figures and the decision in force.
type TenantSummary struct {
	Tenant string `json:"tenant"`
	Figures
	Quota quota.Decision `json:"quota"`
}

// ParseSince reads a range start: a duration back from now ("1h", "90m")
// or an RFC 3339 time; empty means DefaultSince. The range may not reach
// back further than MaxSince.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return now.Add(-DefaultSince), nil
	}
	var from time.Time
	if d, err := time.ParseDuration(v); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("since=%s: want a positive duration", v)
		}
		from = now.Add(-d)
	} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		from = t
	} else {
		return time.Time{}, fmt.Errorf("since=%q: want a duration such as 1h or an RFC 3339 time", v)
	}
	if now.Sub(from) > MaxSince {
		return time.Time{}, fmt.Errorf("since=%s reaches back more than %s", v, MaxSince)
	}
	return from, nil
}

// Summary sums the reports of [from, now], per tenant and overall, with
// each tenant's decision in force, the decisions and the platform windows
// of the range. Totals are read from the stored reports and files, not
// from the windows, so that they are exact sums over what is stored.
// Tenants appear when they are onboarded or have reports in the range.
func (s *Service) Summary(ctx context.Context, from time.Time) (Summary, error) {
	return s.SummaryOf(ctx, from, "")
}

// SummaryOf is Summary seen by one tenant: only its row, its decisions
// and its windows, and All is its own figures (the platform's totals
// would tell it about the others). An empty tenant is Summary.
func (s *Service) SummaryOf(ctx context.Context, from time.Time, tenant string) (Summary, error) {
	to := s.now()
	sum, err := s.sum(ctx, from, to, true)
	if err != nil {
		return Summary{}, fmt.Errorf("stats since %s: %w", from.Format(time.RFC3339), err)
	}
	out := Summary{From: from, To: to, Window: s.cfg.Window.String(), All: sum.all.figures(),
		Tenants: []TenantSummary{}, Decisions: []quota.Decision{}, Windows: []Window{},
		Quality: sum.quality.list(tenant)}

	profiles, err := s.profileNames(ctx)
	if err != nil {
		// The figures still stand; the tenants whose profile is unreadable
		// show when they have reports.
		s.log.WarnContext(ctx, "stats without every tenant's profile", "err", err)
	}
	for _, t := range profiles {
		sum.of(t)
	}
	for _, t := range sum.names() {
		if tenant != "" && t != tenant {
			continue
		}
		d, _, err := quota.Current(ctx, s.control, t)
		if err != nil {
			return Summary{}, err
		}
		out.Tenants = append(out.Tenants, TenantSummary{Tenant: t, Figures: sum.of(t).figures(), Quota: d})
	}

	if tenant != "" {
		out.All = sum.of(tenant).figures()
		if len(out.Tenants) == 0 { // not onboarded, no reports: zeros, its quota
			d, _, err := quota.Current(ctx, s.control, tenant)
			if err != nil {
				return Summary{}, err
			}
			out.Tenants = append(out.Tenants, TenantSummary{Tenant: tenant, Figures: out.All, Quota: d})
		}
	}
	decided := bson.D{{Key: "decided_at", Value: bson.D{{Key: "$gte", Value: from}}}}
	windowsOf := AllTenants
	if tenant != "" {
		decided = append(decided, bson.E{Key: "tenant", Value: tenant})
		windowsOf = tenant
	}
	cur, err := s.decisions.Find(ctx, decided,
		options.Find().SetSort(bson.D{{Key: "decided_at", Value: -1}}).SetLimit(maxDecisions))
	if err == nil {
		var docs []struct {
			Tenant    string    `bson:"tenant"`
			State     string    `bson:"state"`
			Until     time.Time `bson:"until"`
			Reason    string    `bson:"reason"`
			DecidedAt time.Time `bson:"decided_at"`
		}
		if err = cur.All(ctx, &docs); err == nil {
			for _, d := range docs {
				out.Decisions = append(out.Decisions, quota.Decision{Tenant: d.Tenant, State: quota.State(d.State),
					Until: d.Until, Reason: d.Reason, DecidedAt: d.DecidedAt})
			}
		}
	}
	if err != nil {
		return Summary{}, fmt.Errorf("read %s: %w", DecisionsCollection, err)
	}

	cur, err = s.windows.Find(ctx, bson.D{{Key: "tenant", Value: windowsOf}, {Key: "start", Value: bson.D{{Key: "$gte", Value: from.Truncate(s.cfg.Window)}}}},
		options.Find().SetSort(bson.D{{Key: "start", Value: -1}}).SetLimit(maxWindows))
	if err == nil {
		err = cur.All(ctx, &out.Windows)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("read %s: %w", WindowsCollection, err)
	}
	if out.Windows == nil {
		out.Windows = []Window{}
	}
	return out, nil
}

// profileNames are the onboarded tenants, sorted.
func (s *Service) profileNames(ctx context.Context) ([]string, error) {
	profiles, err := quota.Profiles(ctx, s.js)
	names := make([]string, 0, len(profiles))
	for t := range profiles {
		names = append(names, t)
	}
	sort.Strings(names)
	if err != nil {
		err = fmt.Errorf("read the tenants' profiles: %w", err)
	}
	return names, err
}

// WriteText renders the summary for people: the batch and stream figures
// per tenant and overall, each tenant's quota, the recent decisions and
// windows.
func (sm Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }
	fmt.Fprintf(tw, "mysimbdp stats from %s to %s (platform window %s)\n\n", ts(sm.From), ts(sm.To), sm.Window)

	fmt.Fprintln(tw, "BATCH\tfiles\trows ok\trows rejected\tbytes\tdeferrals\tfailures\tavg ms/file\tp95 ms/file")
	batch := func(name string, f Figures) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", name, f.Files, f.RowsOK, f.RowsRejected, f.FileBytes,
			f.Deferrals, f.FileFailures, ms(f.FileAvgMS), ms(f.FileP95MS))
	}
	for _, t := range sm.Tenants {
		batch(t.Tenant, t.Figures)
	}
	batch("all", sm.All)

	fmt.Fprintln(tw, "\nSTREAM\tmessages\tbytes\tfailures\tbatches\tavg ms/batch\tp95 ms/batch")
	stream := func(name string, f Figures) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", name, f.Messages, f.StreamBytes, f.StreamFailures, f.Batches,
			ms(f.BatchAvgMS), ms(f.BatchP95MS))
	}
	for _, t := range sm.Tenants {
		stream(t.Tenant, t.Figures)
	}
	stream("all", sm.All)

	fmt.Fprintln(tw, "\nQUOTA\tstate\tuntil\treason")
	for _, t := range sm.Tenants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Tenant, t.Quota.State, until(t.Quota), tabCell(t.Quota.Reason))
	}

	fmt.Fprintln(tw, "\nDECISIONS (newest first)\ttenant\tstate\tuntil\treason")
	if len(sm.Decisions) == 0 {
		fmt.Fprintln(tw, "none in this range\t\t\t\t")
	}
	for _, d := range sm.Decisions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ts(d.DecidedAt), d.Tenant, d.State, until(d), tabCell(d.Reason))
	}

	fmt.Fprintln(tw, "\nWINDOWS (platform, newest first)\tfiles\trows ok\tmessages\tfailures\tavg ms/file\tavg ms/batch")
	for i, win := range sm.Windows {
		if i == 10 {
			fmt.Fprintf(tw, "… %d more in the JSON (?format=json)\t\t\t\t\t\t\n", len(sm.Windows)-10)
			break
		}
		f := win.Figures
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", ts(win.Start), f.Files, f.RowsOK, f.Messages,
			f.FileFailures+f.StreamFailures, ms(f.FileAvgMS), ms(f.BatchAvgMS))
	}
	writeQuality(tw, sm.Quality)
	return tw.Flush()
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func until(d quota.Decision) string {
	switch {
	case d.State == quota.Allowed:
		return "-"
	case d.Until.IsZero():
		return "lifted when under"
	}
	return d.Until.UTC().Format("15:04:05Z")
}

// tabCell keeps a reason from breaking the table.
func tabCell(s string) string { return strings.NewReplacer("\t", " ", "\n", " ").Replace(s) }
