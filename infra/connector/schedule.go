package connector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/natskv"
)

// Scheduled invocations, as OpenFaaS's cron-connector makes them: a
// function annotated `topic: cron-function` and `schedule: <when>` is
// invoked at every tick of its schedule (the scaler runs this way).
const (
	// CronTopic is the topic of scheduled functions.
	CronTopic = "cron-function"
	// ScheduleAnnotation is when: "@every <Go duration>" (at least 1s;
	// ticks fall on multiples of the interval, so every connector replica
	// computes the same ones), or five cron fields "min hour dom month dow"
	// with *, lists, ranges and steps (in UTC).
	ScheduleAnnotation = "schedule"
	// ScheduleBucket records which connector replica fired which tick, so
	// that a tick fires once however many replicas run; entries expire.
	ScheduleBucket = "mysimbdp-schedule"

	minEvery = time.Second
)

// schedule tells the next tick after a time.
type schedule interface {
	next(after time.Time) time.Time
}

// every ticks at the multiples of its interval since the Unix epoch.
type every time.Duration

func (e every) next(after time.Time) time.Time {
	d := time.Duration(e)
	return after.Truncate(d).Add(d)
}

// cronSpec holds the allowed values of each cron field as bit sets.
type cronSpec struct {
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record a "*" day field: cron matches either day
	// field when both are restricted, the other one when one is "*".
	domStar, dowStar bool
}

func (c *cronSpec) next(after time.Time) time.Time {
	t := after.UTC().Truncate(time.Minute).Add(time.Minute)
	// Every schedule that parsed matches within four years (29 February).
	for end := t.AddDate(4, 0, 1); t.Before(end); t = t.Add(time.Minute) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Minute)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC).Add(-time.Minute)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour - time.Minute)
			continue
		}
		if c.minute&(1<<uint(t.Minute())) != 0 {
			return t
		}
	}
	return time.Time{}
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	switch {
	case c.domStar && c.dowStar:
		return true
	case c.domStar:
		return dow
	case c.dowStar:
		return dom
	}
	return dom || dow
}

// parseSchedule reads a schedule annotation.
func parseSchedule(s string) (schedule, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < minEvery {
			return nil, fmt.Errorf("schedule %q: want @every <duration of at least %s>, e.g. @every 10s", s, minEvery)
		}
		return every(d), nil
	}
	switch s {
	case "@hourly":
		s = "0 * * * *"
	case "@daily", "@midnight":
		s = "0 0 * * *"
	case "@weekly":
		s = "0 0 * * 0"
	case "@monthly":
		s = "0 0 1 * *"
	case "@yearly", "@annually":
		s = "0 0 1 1 *"
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return nil, fmt.Errorf("schedule %q: want five cron fields (minute hour day-of-month month day-of-week) or @every <duration>", s)
	}
	var c cronSpec
	var errs []error
	field := func(i int, name string, lo, hi int) uint64 {
		bits, err := cronField(f[i], lo, hi)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s field %q: %w", name, f[i], err))
		}
		return bits
	}
	c.minute = field(0, "minute", 0, 59)
	c.hour = field(1, "hour", 0, 23)
	c.dom = field(2, "day-of-month", 1, 31)
	c.month = field(3, "month", 1, 12)
	c.dow = field(4, "day-of-week", 0, 7)
	if c.dow&(1<<7) != 0 { // 7 is Sunday too
		c.dow |= 1
	}
	c.domStar, c.dowStar = f[2] == "*", f[4] == "*"
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s, err)
	}
	if c.next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never fires", s)
	}
	return &c, nil
}

// cronField parses one field: "*", "*/n", "a", "a-b", "a-b/n", or a
// comma-separated list of those.
func cronField(s string, lo, hi int) (uint64, error) {
	var bits uint64
	for part := range strings.SplitSeq(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a positive number", stepStr)
			}
			step = n
		}
		from, to := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = strconv.Atoi(a); err != nil {
				return 0, fmt.Errorf("%q is not a number", a)
			}
			to = from
			if isRange {
				if to, err = strconv.Atoi(b); err != nil {
					return 0, fmt.Errorf("%q is not a number", b)
				}
			} else if hasStep {
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return 0, fmt.Errorf("%d-%d is outside %d-%d", from, to, lo, hi)
		}
		for v := from; v <= to; v += step {
			bits |= 1 << uint(v)
		}
	}
	return bits, nil
}

// scheduled is one function's schedule as its annotations say.
type scheduled struct {
	fn    target
	spec  string
	sched schedule
}

// scheduledFunctions reads the scheduled functions of a function list;
// problems are schedules that cannot be read, by function.
func scheduledFunctions(fns []types.FunctionStatus) (map[string]scheduled, map[string]error) {
	out := map[string]scheduled{}
	problems := map[string]error{}
	for _, fn := range fns {
		labels, ann := functionMaps(fn)
		t := target{Name: fn.Name, Namespace: fn.Namespace, Tenant: labels[TenantLabel]}
		if !strings.Contains(","+strings.ReplaceAll(ann[TopicAnnotation], " ", "")+",", ","+CronTopic+",") {
			continue
		}
		spec, ok := ann[ScheduleAnnotation]
		if !ok {
			problems[t.ID()] = fmt.Errorf("topic %s without a %s annotation", CronTopic, ScheduleAnnotation)
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

// ScheduledCall is the body of a scheduled invocation.
type ScheduledCall struct {
	Schedule string    `json:"schedule"`
	Tick     time.Time `json:"tick"`
}

// runSchedules invokes the scheduled functions at their ticks until ctx
// is done, following the function list as refresh reads it.
func (c *Connector) runSchedules(ctx context.Context, js jetstream.JetStream) {
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
		case fns = <-c.schedFns:
		}
		want, problems := scheduledFunctions(fns)
		for id, err := range problems {
			if warned[id] != err.Error() {
				c.log.Warn("scheduled function: schedule ignored", "function", id, "err", err)
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
			c.log.Info("schedule started", "function", id, "schedule", s.spec)
			loops.Go(func() { c.runSchedule(sctx, js, s) })
		}
	}
}

// runSchedule fires one function's ticks. An invocation still running at
// the next tick makes that tick pass: calls of one function never overlap.
func (c *Connector) runSchedule(ctx context.Context, js jetstream.JetStream, s scheduled) {
	log := c.log.With("function", s.fn.ID(), "schedule", s.spec)
	var kv jetstream.KeyValue
	for ctx.Err() == nil {
		tick := s.sched.next(time.Now())
		if tick.IsZero() || !sleep(ctx, time.Until(tick)) {
			return
		}
		if kv == nil {
			var err error
			if kv, err = scheduleKV(ctx, js); err != nil {
				log.Warn("tick not fired: cannot record it", "tick", tick, "err", err)
				continue
			}
		}
		// Only the replica that records the tick first fires it.
		key := strings.NewReplacer(".", "_").Replace(s.fn.ID()) + "." + strconv.FormatInt(tick.UnixMilli(), 10)
		if _, err := kv.Create(ctx, key, []byte(c.id)); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				log.Warn("tick not fired: cannot record it", "tick", tick, "err", err)
			}
			continue
		}
		body, _ := json.Marshal(ScheduledCall{Schedule: s.spec, Tick: tick})
		h := http.Header{}
		h.Set(HeaderTopic, CronTopic)
		h.Set("Content-Type", "application/json")
		r := c.invoke(ctx, s.fn, body, h)
		if r.outcome == outcomeOK {
			log.Debug("scheduled invocation", "tick", tick, "status", r.status, "took", r.took)
			c.metrics.scheduled.WithLabelValues(s.fn.ID(), "ok").Inc()
			continue
		}
		c.metrics.scheduled.WithLabelValues(s.fn.ID(), "failed").Inc()
		if ctx.Err() == nil {
			log.Warn("scheduled invocation failed", "tick", tick, "status", r.status, "err", r.err, "answer", truncate(r.answer, 256))
		}
	}
}

// scheduleKV returns the tick bucket, creating it if it is missing.
func scheduleKV(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	return natskv.Open(ctx, js, jetstream.KeyValueConfig{
		Bucket:      ScheduleBucket,
		Description: "mysimbdp connector: which replica fired which scheduled tick",
		History:     1,
		TTL:         time.Hour,
		Storage:     jetstream.FileStorage,
	})
}
