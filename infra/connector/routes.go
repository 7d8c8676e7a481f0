package connector

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openfaas/faas-provider/types"
)

// target is a function that may be invoked.
type target struct {
	Name      string
	Namespace string
	Tenant    string
}

// ID is the name the gateway invokes (/function/name.namespace) and the
// one metrics and logs use.
func (t target) ID() string {
	if t.Namespace == "" {
		return t.Name
	}
	return t.Name + "." + t.Namespace
}

// misconfig is a function whose topic names a resource of another tenant
// (or that names a tenant-owned topic without a tenant label at all).
type misconfig struct {
	fn    target
	topic string
}

// routeTable maps topics to subscribed functions. It is built whole from
// one gateway listing and never changed, so readers share it without locks.
type routeTable struct {
	byTopic   map[string][]target
	functions int
	misconfig []misconfig
}

// topicOwner returns the tenant that owns a topic, if the topic is one of a
// tenant's resources: s3:<bucket> belongs to tenant <bucket>, and
// ingest.<tenant>.… (a subject of the tenant's stream) to <tenant>. A
// wildcard in the tenant's place is returned as it is, so that it matches
// no tenant label and the function is reported, never routed.
func topicOwner(topic string) (string, bool) {
	if b, ok := strings.CutPrefix(topic, "s3:"); ok && b != "" {
		return b, true
	}
	if rest, ok := strings.CutPrefix(topic, IngestSubjectPrefix+"."); ok {
		tenant, _, _ := strings.Cut(rest, ".")
		if tenant == "" {
			tenant = "(none)"
		}
		return tenant, true
	}
	return "", false
}

// functionMaps returns a function's labels and annotations (nil maps when
// it has none, which read as empty).
func functionMaps(fn types.FunctionStatus) (labels, annotations map[string]string) {
	if fn.Labels != nil {
		labels = *fn.Labels
	}
	if fn.Annotations != nil {
		annotations = *fn.Annotations
	}
	return labels, annotations
}

// parseTopics splits a topic annotation ("s3:a, s3:b").
func parseTopics(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// buildRoutes indexes functions by the topics they subscribe to. A
// function is indexed under a tenant-owned topic only when its tenant
// label names the topic's owner; otherwise it is reported as misconfigured
// and never routed to.
func buildRoutes(fns []types.FunctionStatus) *routeTable {
	rt := &routeTable{byTopic: map[string][]target{}}
	for _, fn := range fns {
		labels, ann := functionMaps(fn)
		topics := parseTopics(ann[TopicAnnotation])
		if len(topics) == 0 {
			continue
		}
		t := target{Name: fn.Name, Namespace: fn.Namespace, Tenant: labels[TenantLabel]}
		routed := false
		for _, topic := range topics {
			if owner, ok := topicOwner(topic); ok && owner != t.Tenant {
				rt.misconfig = append(rt.misconfig, misconfig{fn: t, topic: topic})
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
		slices.SortFunc(ts, func(a, b target) int { return strings.Compare(a.ID(), b.ID()) })
	}
	return rt
}

// match returns the functions of tenant subscribed to topic. The tenant
// check is repeated here so that isolation does not rest on buildRoutes
// alone.
func (rt *routeTable) match(topic, tenant string) []target {
	var out []target
	for _, t := range rt.byTopic[topic] {
		if t.Tenant == tenant {
			out = append(out, t)
		}
	}
	return out
}

// listFunctions reads every function of every namespace from the gateway.
// Any failure fails the whole listing: a partial table would make events
// of the missing namespaces look unsubscribed and burn their attempts.
func (c *Connector) listFunctions(ctx context.Context) ([]types.FunctionStatus, error) {
	nss, err := c.gw.Namespaces(ctx)
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
		fns, err := c.gw.Functions(ctx, ns)
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

// refresh rebuilds the routing table. On failure the previous table stays,
// since stale routes beat none. warned remembers which misconfigurations
// were already logged, so that each is logged once, not every refresh.
func (c *Connector) refresh(ctx context.Context, warned map[string]bool) error {
	fns, err := c.listFunctions(ctx)
	if err != nil {
		c.metrics.refreshErrors.Inc()
		return err
	}
	rt := buildRoutes(fns)
	c.offerFunctions(fns)
	seen := map[string]bool{}
	for _, m := range rt.misconfig {
		k := m.fn.ID() + " " + m.topic
		seen[k] = true
		if !warned[k] {
			owner, _ := topicOwner(m.topic)
			c.log.Warn("function subscribes to another tenant's topic; it will not receive its events",
				"function", m.fn.ID(), "topic", m.topic, "function_tenant", m.fn.Tenant, "topic_tenant", owner,
				"fix", fmt.Sprintf("set label %s=%s or remove %s from annotation %q", TenantLabel, owner, m.topic, TopicAnnotation))
		}
	}
	clear(warned)
	for k := range seen {
		warned[k] = true
	}
	old := c.routes.Swap(rt)
	if old == nil || old.functions != rt.functions {
		c.log.Info("function list refreshed", "subscribed_functions", rt.functions, "topics", len(rt.byTopic))
	}
	c.metrics.functions.Set(float64(rt.functions))
	return nil
}
