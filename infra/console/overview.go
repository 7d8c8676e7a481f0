package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/scale"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// recentFiles is how many finished files the overview lists.
const recentFiles = 25

type tenantView struct {
	Name string
	// State is ready, incomplete (what is missing) or not onboarded.
	State     string
	Paused    bool
	Decision  quota.Decision
	Holds     bool
	Backlog   int64
	Functions []string
	Letters   int
	Charts    []series
}

type functionView struct {
	ID, Tenant          string
	Replicas, Available uint64
	Invocations         float64
	Backlog             *int64
	LastActive          time.Time
	// Recs are the scaler's recommendations in its stabilisation
	// window, newest first.
	Recs []scale.Rec
}

type overview struct {
	page
	Now       time.Time
	Tenants   []tenantView
	Functions []functionView
	Files     []fileDoc
	Letters   []deadletter.Letter
	// Problems are the sources that could not be read.
	Problems []string
}

// gathered is every source of the overview, read at once.
type gathered struct {
	fns      []types.FunctionStatus
	profiles map[string]*profile.Profile
	ctl      controlFlags
	scaler   map[string]scale.State
	backlog  backlogs
	windows  []stats.Window
	files    []fileDoc
	letters  []deadletter.Letter
	problems []string
}

func gather(ctx context.Context, d Deps, now time.Time) gathered {
	var g gathered
	var mu sync.Mutex
	var wg sync.WaitGroup
	db := d.Mongo.Database(d.PlatformDB)
	read := func(what string, f func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, d.SourceTimeout)
			defer cancel()
			if err := f(ctx); err != nil {
				d.Log.Warn("console: a source could not be read", "source", what, "err", err)
				mu.Lock()
				g.problems = append(g.problems, fmt.Sprintf("%s: %v", what, err))
				mu.Unlock()
			}
		}()
	}
	read("functions", func(ctx context.Context) (err error) { g.fns, err = readFunctions(ctx, d.Gateway); return err })
	read("profiles", func(ctx context.Context) (err error) { g.profiles, err = readProfiles(ctx, d.JetStream); return err })
	read("control", func(ctx context.Context) (err error) { g.ctl, err = readControl(ctx, d.JetStream); return err })
	read("scaler", func(ctx context.Context) (err error) { g.scaler, err = readScaler(ctx, d.JetStream); return err })
	read("backlog", func(ctx context.Context) (err error) { g.backlog, err = readBacklogs(ctx, d.JetStream); return err })
	read("rates", func(ctx context.Context) (err error) {
		g.windows, err = readWindows(ctx, db, now.Add(-chartSpan))
		return err
	})
	read("files", func(ctx context.Context) (err error) {
		g.files, err = readFiles(ctx, db, now.Add(-24*time.Hour), recentFiles)
		return err
	})
	read("dead letters", func(ctx context.Context) (err error) { g.letters, err = d.DeadLetters.List(ctx, ""); return err })
	wg.Wait()
	sort.Strings(g.problems)
	return g
}

// MakeOverviewHandler serves /ui/: the whole platform on one page.
func MakeOverviewHandler(d Deps, pages *pages) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := d.Now()
		g := gather(r.Context(), d, now)
		v := overview{page: pages.base(r, "mysimbdp"), Now: now, Files: g.files, Letters: g.letters, Problems: g.problems}

		names := map[string]bool{}
		byTenant := map[string][]string{}
		for _, fn := range g.fns {
			if t := tenantOf(fn); t != "" {
				names[t] = true
				byTenant[t] = append(byTenant[t], fn.Name)
			}
		}
		for t := range g.profiles {
			names[t] = true
		}
		for t := range g.backlog.streams {
			names[t] = true
		}
		letters := map[string]int{}
		for _, l := range g.letters {
			letters[l.Tenant]++
		}
		for t := range names {
			tv := tenantView{Name: t, Paused: g.ctl.paused[t], Backlog: g.backlog.byTenant[t],
				Functions: byTenant[t], Letters: letters[t], Charts: chartsOf(g.windows, t, now)}
			tv.Decision, tv.Holds = g.ctl.decisions[t], g.ctl.decisions[t].Holds(now)
			tv.State = tenantState(g.profiles[t] != nil, g.backlog.streams[t], len(byTenant[t]))
			v.Tenants = append(v.Tenants, tv)
		}
		sort.Slice(v.Tenants, func(i, j int) bool { return v.Tenants[i].Name < v.Tenants[j].Name })
		v.Tenants = append(v.Tenants, tenantView{Name: stats.AllTenants, State: "the whole platform", Charts: chartsOf(g.windows, stats.AllTenants, now)})

		for _, fn := range g.fns {
			id := functionID(fn)
			fv := functionView{ID: id, Tenant: tenantOf(fn), Replicas: fn.Replicas, Available: fn.AvailableReplicas, Invocations: fn.InvocationCount}
			if b, ok := g.backlog.byFunction[id]; ok {
				fv.Backlog = &b
			}
			if st, ok := g.scaler[scalerKey(id)]; ok {
				fv.LastActive = st.LastActive
				for i := len(st.Recs) - 1; i >= 0 && len(fv.Recs) < 5; i-- {
					fv.Recs = append(fv.Recs, st.Recs[i])
				}
			}
			v.Functions = append(v.Functions, fv)
		}
		pages.render(w, "overview", v)
	}
}

// tenantState says whether a tenant has what onboarding gives it.
func tenantState(profiled, stream bool, functions int) string {
	switch {
	case !profiled:
		return "not onboarded (no profile published)"
	case !stream && functions == 0:
		return "incomplete: no stream, no functions"
	case !stream:
		return "incomplete: no stream"
	case functions == 0:
		return "incomplete: no functions"
	}
	return "ready"
}
