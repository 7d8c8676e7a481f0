package s3event

import (
	"fmt"
	"strings"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
)

// routing is where an event goes: the topic whose functions take it and
// those functions; or, when unrouted is set, nowhere ever, for that
// reason.
type routing struct {
	topic    string
	targets  []core.Target
	unrouted string
}

// routeOf finds the functions of tenant that take the keys of bucket. A
// function subscribes to s3:<bucket> (every key) or to
// s3:<bucket>/<prefix> (the keys starting with prefix, e.g. one dataset's
// folder incoming/<dataset>/); a key goes to the functions of its most
// specific topic, the one with the longest prefix. So a tenant's own app
// on s3:t/incoming/vaccinations/ takes that folder, and the platform's
// function on s3:t takes the rest.
//
// When no function of the tenant subscribes to its bucket at all, the
// route is s3:<bucket> with no targets: the caller retries, since a
// function may be on its way. When some do but none takes a key, or the
// keys of one event go to different topics (the body goes whole to one
// topic's functions), the event can never be delivered: unrouted says
// why.
func routeOf(rt *core.Routes, tenant, bucket string, keys []string) routing {
	base := topicPrefix + bucket
	var r routing
	var first string
	var misses []string
	for _, key := range keys {
		topic, targets := longest(rt, tenant, base, key)
		switch {
		case topic == "":
			misses = append(misses, key)
		case r.topic == "":
			r.topic, r.targets, first = topic, targets, key
		case r.topic != topic:
			return routing{topic: base, unrouted: fmt.Sprintf("the keys of one event go to different functions (%s takes %s, %s takes %s); an event goes whole to one topic's functions",
				r.topic, first, topic, key)}
		}
	}
	if len(misses) == 0 {
		return r
	}
	subscribed := tenantTopics(rt, tenant, bucket)
	if len(subscribed) == 0 {
		return routing{topic: base}
	}
	return routing{topic: base, unrouted: fmt.Sprintf("no function of tenant %s takes %s: its functions subscribe to %s (and %s would take every key)",
		tenant, strings.Join(misses, ", "), strings.Join(subscribed, ", "), base)}
}

// longest returns the most specific topic of tenant that takes key, and
// its functions; "" when none does.
func longest(rt *core.Routes, tenant, base, key string) (string, []core.Target) {
	prefixed := base + "/" + key
	for i := len(prefixed); i > len(base); i-- {
		if ts := rt.Match(prefixed[:i], tenant); len(ts) > 0 {
			return prefixed[:i], ts
		}
	}
	if ts := rt.Match(base, tenant); len(ts) > 0 {
		return base, ts
	}
	return "", nil
}

// tenantTopics lists, sorted, the topics on bucket that functions of
// tenant are routed on.
func tenantTopics(rt *core.Routes, tenant, bucket string) []string {
	var out []string
	for _, topic := range rt.Topics() {
		if b, ok := TopicOwner(topic); ok && b == bucket && len(rt.Match(topic, tenant)) > 0 {
			out = append(out, topic)
		}
	}
	return out
}
