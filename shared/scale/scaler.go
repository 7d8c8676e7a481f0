package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/natskv"
)

// Gateway is what the scaler needs of an OpenFaaS gateway
// (shared/gateway.Client has it).
type Gateway interface {
	Namespaces(ctx context.Context) ([]string, error)
	Functions(ctx context.Context, namespace string) ([]types.FunctionStatus, error)
	Scale(ctx context.Context, name, namespace string, replicas uint64) error
}

// Scaler runs one scaling pass per Run.
type Scaler struct {
	gw       Gateway
	js       jetstream.JetStream
	inflight Inflight
	log      *slog.Logger
	// stabilization is the default scale-down window.
	stabilization time.Duration
	// replicas is the state bucket's replica count, should this scaler
	// create it.
	replicas int
	now      func() time.Time
}

// New returns a Scaler; inflight tells the invocations in flight (nil:
// never known, so no function goes to zero); stabilization is the
// scale-down window of functions without their own label (0: 2 minutes);
// replicas is its state bucket's replica count (contract.EnvJSReplicas;
// 0: JetStream's 1).
func New(gw Gateway, js jetstream.JetStream, inflight Inflight, stabilization time.Duration, replicas int, log *slog.Logger) *Scaler {
	if stabilization <= 0 {
		stabilization = 2 * time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Scaler{gw: gw, js: js, inflight: inflight, log: log, stabilization: stabilization, replicas: replicas, now: time.Now}
}

// Change is one function's outcome in a pass.
type Change struct {
	Function string `json:"function"`
	From     int    `json:"from"`
	To       int    `json:"to"`
	Backlog  *int64 `json:"backlog,omitempty"`
	// Inflight is the invocations in flight, when they could be read.
	Inflight *int64 `json:"inflight,omitempty"`
	Why      string `json:"why"`
	Error    string `json:"error,omitempty"`
}

// Report is a pass's outcome: every managed function, scaled or not.
type Report struct {
	At        time.Time `json:"at"`
	Functions []Change  `json:"functions"`
}

// Run makes one pass over every namespace's functions. A function that
// cannot be handled is reported in its Change and the others go on; the
// error is for a pass that could not look at all.
func (s *Scaler) Run(ctx context.Context) (Report, error) {
	rep := Report{At: s.now().UTC()}
	nss, err := s.gw.Namespaces(ctx)
	if err != nil {
		return rep, fmt.Errorf("scale: list namespaces: %w", err)
	}
	if len(nss) == 0 {
		nss = []string{""}
	}
	backlog, err := s.backlogs(ctx)
	if err != nil {
		return rep, fmt.Errorf("scale: %w", err)
	}
	kv, err := s.stateKV(ctx)
	if err != nil {
		return rep, fmt.Errorf("scale: %w", err)
	}
	// Without them no function is idle, but the pass goes on: scaling up
	// does not need them.
	var inflight map[string]int64
	if s.inflight != nil {
		if inflight, err = s.inflight(ctx); err != nil {
			s.log.Warn("invocations in flight unknown; no function goes to zero this pass", "err", err)
		}
	}
	var errs []error
	for _, ns := range nss {
		fns, err := s.gw.Functions(ctx, ns)
		if err != nil {
			errs = append(errs, fmt.Errorf("list functions of namespace %q: %w", ns, err))
			continue
		}
		for _, fn := range fns {
			var labels map[string]string
			if fn.Labels != nil {
				labels = *fn.Labels
			}
			if !Managed(labels) {
				continue
			}
			rep.Functions = append(rep.Functions, s.scaleOne(ctx, kv, fn, labels, backlog, inflight))
		}
	}
	return rep, errors.Join(errs...)
}

func (s *Scaler) scaleOne(ctx context.Context, kv jetstream.KeyValue, fn types.FunctionStatus, labels map[string]string, backlogs map[string]consumerLoad, inflight map[string]int64) Change {
	id := fn.Name
	if fn.Namespace != "" {
		id += "." + fn.Namespace
	}
	log := s.log.With("function", id)
	p, problems := ReadPolicy(labels, s.stabilization)
	for _, old := range Deprecated(labels) {
		log.Warn("deprecated scaling label; it still works but will go", "label", old)
	}
	for _, pr := range problems {
		log.Warn("scaling label ignored", "problem", pr)
	}
	o := Observation{At: s.now(), Replicas: int(fn.Replicas), Progress: fn.InvocationCount}
	if l, ok := backlogs[id]; ok {
		o.Backlog, o.HasBacklog, o.Progress = l.backlog, true, float64(l.delivered)
	}
	if inflight != nil {
		o.Inflight, o.InflightKnown = inflight[id], true
	}
	ch := Change{Function: id, From: o.Replicas, To: o.Replicas}
	if o.HasBacklog {
		ch.Backlog = &o.Backlog
	}
	if o.InflightKnown {
		ch.Inflight = &o.Inflight
	}

	key := strings.ReplaceAll(id, ".", "_")
	var st State
	var rev uint64
	if e, err := kv.Get(ctx, key); err == nil {
		rev = e.Revision()
		if err := json.Unmarshal(e.Value(), &st); err != nil {
			log.Warn("scaler state unreadable; starting afresh", "err", err)
			st = State{}
		}
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		ch.Error = fmt.Sprintf("read state: %v", err)
		return ch
	}
	d, next := Decide(p, o, st)
	ch.Why = d.Why
	if v, err := json.Marshal(next); err == nil {
		// Update at the revision read: two scalers running at once cannot
		// both act on the same memory; the loser leaves this one alone.
		if rev == 0 {
			_, err = kv.Create(ctx, key, v)
		} else {
			_, err = kv.Update(ctx, key, v, rev)
		}
		if err != nil {
			ch.Error = fmt.Sprintf("store state (another scaler at work?): %v", err)
			return ch
		}
	}
	if d.Replicas == o.Replicas {
		return ch
	}
	if err := s.gw.Scale(ctx, fn.Name, fn.Namespace, uint64(d.Replicas)); err != nil {
		ch.Error = fmt.Sprintf("scale to %d: %v", d.Replicas, err)
		log.Error("scale function", "from", o.Replicas, "to", d.Replicas, "err", err)
		return ch
	}
	ch.To = d.Replicas
	log.Info("function scaled", "from", o.Replicas, "to", d.Replicas, "why", d.Why, "backlog", o.Backlog, "inflight", o.Inflight)
	return ch
}

// consumerLoad is one function's consumer figures, summed over its
// consumers.
type consumerLoad struct {
	backlog   int64
	delivered uint64
}

// backlogs reads every consumer the connector made for a function.
func (s *Scaler) backlogs(ctx context.Context) (map[string]consumerLoad, error) {
	out := map[string]consumerLoad{}
	streams := s.js.ListStreams(ctx)
	var names []string
	for si := range streams.Info() {
		names = append(names, si.Config.Name)
	}
	if err := streams.Err(); err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	for _, name := range names {
		st, err := s.js.Stream(ctx, name)
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				continue
			}
			return nil, fmt.Errorf("stream %s: %w", name, err)
		}
		cons := st.ListConsumers(ctx)
		for ci := range cons.Info() {
			fn := ci.Config.Metadata[contract.ConsumerFunctionKey]
			if fn == "" {
				continue
			}
			l := out[fn]
			l.backlog += int64(ci.NumPending) + int64(ci.NumAckPending)
			l.delivered += ci.Delivered.Stream
			out[fn] = l
		}
		if err := cons.Err(); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	return out, nil
}

// stateKV returns the state bucket, creating it if it is missing.
func (s *Scaler) stateKV(ctx context.Context) (jetstream.KeyValue, error) {
	return natskv.Open(ctx, s.js, jetstream.KeyValueConfig{
		Bucket:      contract.ScalerBucket,
		Description: "mysimbdp scaler: per-function recommendations and last activity",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    s.replicas,
	})
}
