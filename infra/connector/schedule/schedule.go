// Package schedule is the connector's scheduled invocations, as OpenFaaS's
// cron-connector makes them: a function annotated topic=cron-function and
// schedule=<when> (contract.TopicCron, contract.AnnotationSchedule) is
// invoked at every tick of its schedule (the scaler runs this way). A
// schedule is "@every <Go duration>" (ticks on fixed multiples of the
// interval, so every replica computes the same ones), a descriptor
// (@hourly, @daily, …) or five cron fields with names (MON-FRI), in UTC
// (cron.go). Each tick is claimed in the KV bucket contract.ScheduleBucket
// before it fires, so it fires once however many connectors run.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/natskv"
)

// Call is the body of a scheduled invocation.
type Call struct {
	Schedule string    `json:"schedule"`
	Tick     time.Time `json:"tick"`
}

// scheduled is one function's schedule as its annotations say.
type scheduled struct {
	fn    core.Target
	spec  string
	sched schedule
}

// scheduledFunctions reads the scheduled functions of a function list;
// problems are schedules that cannot be read, by function.
func scheduledFunctions(fns []types.FunctionStatus) (map[string]scheduled, map[string]error) {
	out := map[string]scheduled{}
	problems := map[string]error{}
	for _, fn := range fns {
		_, ann := core.FunctionMaps(fn)
		t := core.TargetOf(fn)
		if !strings.Contains(","+strings.ReplaceAll(ann[contract.AnnotationTopic], " ", "")+",", ","+contract.TopicCron+",") {
			continue
		}
		spec, ok := ann[contract.AnnotationSchedule]
		if !ok {
			problems[t.ID()] = fmt.Errorf("topic %s without a %s annotation", contract.TopicCron, contract.AnnotationSchedule)
			continue
		}
		s, err := parseSchedule(spec)
		if err != nil {
			problems[t.ID()] = err
			continue
		}
		out[t.ID()] = scheduled{fn: t, spec: strings.TrimSpace(spec), sched: s}
	}
	return out, problems
}

// Scheduler invokes the scheduled functions at their ticks.
type Scheduler struct {
	inv       *core.Invoker
	fns       <-chan []types.FunctionStatus
	log       *slog.Logger
	scheduled *prometheus.CounterVec
	// id tells this connector's claims from another replica's.
	id string
	// replicas is the tick bucket's replica count, should this connector
	// create it.
	replicas int
}

// New returns a scheduler following the function lists fns carries
// (core.Directory.Subscribe); id names this connector in its claims;
// replicas is the tick bucket's replica count (0: JetStream's 1).
func New(inv *core.Invoker, fns <-chan []types.FunctionStatus, reg prometheus.Registerer, id string, replicas int, log *slog.Logger) *Scheduler {
	s := &Scheduler{inv: inv, fns: fns, log: log, id: id, replicas: replicas,
		scheduled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mysimbdp", Subsystem: "connector", Name: "scheduled_invocations_total",
			Help: "Scheduled invocations (topic cron-function) fired by this connector, by function and outcome (ok, failed).",
		}, []string{contract.MetricLabelFunction, "outcome"})}
	reg.MustRegister(s.scheduled)
	return s
}

// Run invokes the scheduled functions at their ticks until ctx is done,
// starting, restarting and stopping one loop per function as its
// schedule appears, changes and goes.
func (sc *Scheduler) Run(ctx context.Context, js jetstream.JetStream) {
	type running struct {
		spec   string
		cancel context.CancelFunc
	}
	var loops sync.WaitGroup
	live := map[string]running{}
	warned := map[string]string{}
	defer func() {
		for _, r := range live {
			r.cancel()
		}
		loops.Wait()
	}()
	for {
		var fns []types.FunctionStatus
		select {
		case <-ctx.Done():
			return
		case fns = <-sc.fns:
		}
		want, problems := scheduledFunctions(fns)
		for id, err := range problems {
			if warned[id] != err.Error() {
				sc.log.Warn("scheduled function: schedule ignored", "function", id, "err", err)
				warned[id] = err.Error()
			}
		}
		for id, r := range live {
			if w, ok := want[id]; !ok || w.spec != r.spec {
				r.cancel()
				delete(live, id)
			}
		}
		for id, s := range want {
			if _, ok := live[id]; ok {
				continue
			}
			sctx, cancel := context.WithCancel(ctx)
			live[id] = running{spec: s.spec, cancel: cancel}
			sc.log.Info("schedule started", "function", id, contract.AnnotationSchedule, s.spec)
			loops.Go(func() { sc.runOne(sctx, js, s) })
		}
	}
}

// clock is time as a schedule loop sees it; tests pass a fixed one.
type clock interface {
	Now() time.Time
	// SleepUntil waits until t or ctx is done; it reports whether t came.
	SleepUntil(ctx context.Context, t time.Time) bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) SleepUntil(ctx context.Context, t time.Time) bool {
	return core.Sleep(ctx, time.Until(t))
}

// ticks calls fire at each tick of sched until ctx is done. A fire still
// running at the next tick makes that tick pass: calls of one function
// never overlap.
func ticks(ctx context.Context, clk clock, sched schedule, fire func(tick time.Time)) {
	for ctx.Err() == nil {
		tick := sched.next(clk.Now())
		if tick.IsZero() || !clk.SleepUntil(ctx, tick) {
			return
		}
		fire(tick)
	}
}

// runOne fires one function's ticks that this connector claims first.
func (sc *Scheduler) runOne(ctx context.Context, js jetstream.JetStream, s scheduled) {
	log := sc.log.With("function", s.fn.ID(), contract.AnnotationSchedule, s.spec)
	var kv jetstream.KeyValue
	ticks(ctx, realClock{}, s.sched, func(tick time.Time) {
		if kv == nil {
			var err error
			if kv, err = scheduleKV(ctx, js, sc.replicas); err != nil {
				log.Warn("tick not fired: cannot record it", "tick", tick, "err", err)
				return
			}
		}
		// Only the replica that records the tick first fires it.
		key := strings.NewReplacer(".", "_").Replace(s.fn.ID()) + "." + strconv.FormatInt(tick.UnixMilli(), 10)
		if _, err := kv.Create(ctx, key, []byte(sc.id)); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				log.Warn("tick not fired: cannot record it", "tick", tick, "err", err)
			}
			return
		}
		body, _ := json.Marshal(Call{Schedule: s.spec, Tick: tick})
		h := http.Header{}
		h.Set(contract.HeaderTopic, contract.TopicCron)
		h.Set("Content-Type", "application/json")
		r := sc.inv.Invoke(ctx, s.fn, body, h)
		if r.Outcome == core.OK {
			log.Debug("scheduled invocation", "tick", tick, "status", r.Status, "took", r.Took)
			sc.scheduled.WithLabelValues(s.fn.ID(), "ok").Inc()
			return
		}
		sc.scheduled.WithLabelValues(s.fn.ID(), "failed").Inc()
		if ctx.Err() == nil {
			log.Warn("scheduled invocation failed", "tick", tick, "status", r.Status, "err", r.Err, "answer", core.Truncate(r.Answer, 256))
		}
	})
}

// scheduleKV returns the tick bucket, creating it if it is missing.
func scheduleKV(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	return natskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      contract.ScheduleBucket,
		Description: "mysimbdp connector: which replica fired which scheduled tick",
		History:     1,
		TTL:         time.Hour,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
}
