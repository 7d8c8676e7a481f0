package core

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// Target is a function that may be invoked.
type Target struct {
	Name      string
	Namespace string
	Tenant    string
	// MaxInflightFiles bounds the S3 events the function is handed at
	// once (contract.AnnotationMaxInflightFiles; at least 1).
	MaxInflightFiles int
}

// ID is the name the gateway invokes (/function/name.namespace) and the
// one metrics and logs use.
func (t Target) ID() string {
	if t.Namespace == "" {
		return t.Name
	}
	return t.Name + "." + t.Namespace
}

// TargetOf is fn as a target, its tenant read from its label.
// An unreadable contract.AnnotationMaxInflightFiles reads as the default.
func TargetOf(fn types.FunctionStatus) Target {
	labels, ann := FunctionMaps(fn)
	files, err := strconv.Atoi(strings.TrimSpace(ann[contract.AnnotationMaxInflightFiles]))
	if err != nil || files < 1 {
		files = contract.DefaultMaxInflightFiles
	}
	return Target{Name: fn.Name, Namespace: fn.Namespace, Tenant: labels[contract.LabelTenant], MaxInflightFiles: files}
}

// FunctionMaps returns a function's labels and annotations (nil maps when
// it has none, which read as empty).
func FunctionMaps(fn types.FunctionStatus) (labels, annotations map[string]string) {
	if fn.Labels != nil {
		labels = *fn.Labels
	}
	if fn.Annotations != nil {
		annotations = *fn.Annotations
	}
	return labels, annotations
}

// ParseTopics splits a topic annotation ("s3:a, s3:b").
func ParseTopics(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// ValidTenant reports whether t can be one subject token, part of a
// stream name and of a KV key: the places a tenant's id goes.
func ValidTenant(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// OwnerFunc returns the tenant that owns a topic, if the topic is one of
// a tenant's resources. Each flow knows its own topics (s3event.TopicOwner,
// stream.TopicOwner); the connector joins them.
type OwnerFunc func(topic string) (tenant string, owned bool)

// Misconfig is a function whose topic names a resource of another tenant
// (or that names a tenant-owned topic without a tenant label at all).
type Misconfig struct {
	Fn    Target
	Topic string
	// Owner is the tenant that owns Topic.
	Owner string
}

// Routes maps topics to subscribed functions. It is built whole from one
// gateway listing and never changed, so readers share it without locks.
type Routes struct {
	byTopic   map[string][]Target
	functions int
	misconfig []Misconfig
}

// BuildRoutes indexes functions by the topics they subscribe to. A
// function is indexed under a tenant-owned topic only when its tenant
// label names the topic's owner; otherwise it is reported as misconfigured
// and never routed to.
func BuildRoutes(fns []types.FunctionStatus, owner OwnerFunc) *Routes {
	rt := &Routes{byTopic: map[string][]Target{}}
	for _, fn := range fns {
		_, ann := FunctionMaps(fn)
		topics := ParseTopics(ann[contract.AnnotationTopic])
		if len(topics) == 0 {
			continue
		}
		t := TargetOf(fn)
		routed := false
		for _, topic := range topics {
			if o, ok := owner(topic); ok && o != t.Tenant {
				rt.misconfig = append(rt.misconfig, Misconfig{Fn: t, Topic: topic, Owner: o})
				continue
			}
			rt.byTopic[topic] = append(rt.byTopic[topic], t)
			routed = true
		}
		if routed {
			rt.functions++
		}
	}
	for _, ts := range rt.byTopic {
		slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.ID(), b.ID()) })
	}
	return rt
}

// Match returns the functions of tenant subscribed to topic. The tenant
// check is repeated here so that isolation does not rest on BuildRoutes
// alone.
func (rt *Routes) Match(topic, tenant string) []Target {
	var out []Target
	for _, t := range rt.byTopic[topic] {
		if t.Tenant == tenant {
			out = append(out, t)
		}
	}
	return out
}

// Topics lists, sorted, the topics at least one function is routed on.
func (rt *Routes) Topics() []string {
	return slices.Sorted(maps.Keys(rt.byTopic))
}

// Functions is how many functions have at least one routable topic.
func (rt *Routes) Functions() int { return rt.functions }

// Misconfigured lists the subscriptions refused for their tenant.
func (rt *Routes) Misconfigured() []Misconfig { return rt.misconfig }

// Directory keeps the function list fresh: it re-reads it from the
// gateway every interval, keeps the routing table built from it, and
// hands each new list to its subscribers (the stream flow, the
// scheduler).
type Directory struct {
	gw       *gateway.Client
	interval time.Duration
	owner    OwnerFunc
	m        *Metrics
	log      *slog.Logger
	// routes is the latest table; nil until the first successful read.
	routes atomic.Pointer[Routes]
	subs   []chan []types.FunctionStatus
	// ready is closed by the first successful read.
	ready     chan struct{}
	readyOnce sync.Once
}

// NewDirectory returns a directory reading gw's function list every
// interval. Subscribe before Run.
func NewDirectory(gw *gateway.Client, interval time.Duration, owner OwnerFunc, m *Metrics, log *slog.Logger) *Directory {
	return &Directory{gw: gw, interval: interval, owner: owner, m: m, log: log, ready: make(chan struct{})}
}

// Ready is closed once the function list was read: a flow that starts
// before then would only postpone what it pulls, spending deliveries.
func (d *Directory) Ready() <-chan struct{} { return d.ready }

// Subscribe returns a channel carrying the newest function list after
// each read. It holds one list: an older one not yet taken is replaced,
// so the directory never blocks on it and a subscriber never acts on a
// stale list.
func (d *Directory) Subscribe() <-chan []types.FunctionStatus {
	ch := make(chan []types.FunctionStatus, 1)
	d.subs = append(d.subs, ch)
	return ch
}

// Routes is the latest routing table, nil until the function list was
// read once.
func (d *Directory) Routes() *Routes { return d.routes.Load() }

// Run re-reads the function list every interval until ctx is done. It
// reads it once at once, so events find their functions from the start.
func (d *Directory) Run(ctx context.Context) {
	warned := map[string]bool{}
	tick := time.NewTicker(d.interval)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(d.interval, 10*time.Second))
		err := d.refresh(rctx, warned)
		cancel()
		if err != nil && ctx.Err() == nil {
			d.log.Warn("refresh function list; keeping the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refresh rebuilds the routing table. On failure the previous table stays,
// since stale routes beat none. warned remembers which misconfigurations
// were already logged, so that each is logged once, not every refresh.
func (d *Directory) refresh(ctx context.Context, warned map[string]bool) error {
	fns, err := d.list(ctx)
	if err != nil {
		d.m.RefreshErrors.Inc()
		return err
	}
	rt := BuildRoutes(fns, d.owner)
	for _, ch := range d.subs {
		select {
		case <-ch:
		default:
		}
		select {
		case ch <- fns:
		default:
		}
	}
	seen := map[string]bool{}
	for _, m := range rt.misconfig {
		k := m.Fn.ID() + " " + m.Topic
		seen[k] = true
		if !warned[k] {
			d.log.Warn("function subscribes to another tenant's topic; it will not receive its events",
				"function", m.Fn.ID(), contract.AnnotationTopic, m.Topic, "function_tenant", m.Fn.Tenant, "topic_tenant", m.Owner,
				"fix", fmt.Sprintf("set label %s=%s or remove %s from annotation %q", contract.LabelTenant, m.Owner, m.Topic, contract.AnnotationTopic))
		}
	}
	clear(warned)
	for k := range seen {
		warned[k] = true
	}
	old := d.routes.Swap(rt)
	d.readyOnce.Do(func() { close(d.ready) })
	if old == nil || old.functions != rt.functions {
		d.log.Info("function list refreshed", "subscribed_functions", rt.functions, "topics", len(rt.byTopic))
	}
	d.m.Functions.Set(float64(rt.functions))
	return nil
}

// list reads every function of every namespace from the gateway. Any
// failure fails the whole listing: a partial table would make events of
// the missing namespaces look unsubscribed and burn their attempts.
func (d *Directory) list(ctx context.Context) ([]types.FunctionStatus, error) {
	nss, err := d.gw.Namespaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	if len(nss) == 0 {
		// A gateway without namespace support lists its one namespace
		// as the default.
		nss = []string{""}
	}
	var all []types.FunctionStatus
	for _, ns := range nss {
		fns, err := d.gw.Functions(ctx, ns)
		if err != nil {
			return nil, fmt.Errorf("list functions of namespace %q: %w", ns, err)
		}
		for i := range fns {
			if fns[i].Namespace == "" {
				fns[i].Namespace = ns
			}
		}
		all = append(all, fns...)
	}
	return all, nil
}
