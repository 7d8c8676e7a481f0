package stream

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/connector/core"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Limits of a stream function's annotations: contract.AnnotationBatchSize
// is the most records a function gets in one invocation (Lambda's
// BatchSize), contract.AnnotationBatchWindow how long (a Go duration) the
// connector waits after the first record for the batch to fill (Lambda's
// MaximumBatchingWindow), contract.AnnotationMaxInflight how many batches
// one replica of the function is given at once.
const (
	DefaultBatchSize      = 100
	MaxBatchSize          = 1000
	DefaultBatchWindow    = 50 * time.Millisecond
	MaxBatchWindow        = 5 * time.Minute
	MaxInflightPerReplica = 100

	// minBatchWindow keeps a zero window a real (if short) pull: JetStream
	// needs an expiry, and a no-wait pull cannot bound the batch's bytes.
	minBatchWindow = time.Millisecond
	// answerLimit bounds a stream function's answer. It is larger than
	// core.AnswerLimit because a batch of MaxBatchSize records may all be
	// reported failed, each with a reason; a longer answer is refused
	// rather than cut, since a cut list would ack failed records.
	answerLimit = 4 << 20
)

// TopicOwner returns the tenant owning a stream topic: ingest.<t>.… is a
// subject of tenant t's stream. A wildcard in the tenant's place is
// returned as it is, so that it matches no tenant label and the function
// is reported, never routed.
func TopicOwner(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, contract.TenantSubjectPrefix+".")
	if !ok {
		return "", false
	}
	tenant, _, _ := strings.Cut(rest, ".")
	if tenant == "" {
		tenant = "(none)"
	}
	return tenant, true
}

// ConsumerName is the durable consumer that feeds function name in
// namespace: derived from the function alone, so a redeploy (or a
// restarted connector) resumes where the last one stopped, and a scaler
// can read the function's backlog from it.
func ConsumerName(name, namespace string) string {
	id := name + "_" + namespace
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
	// OpenFaaS names are DNS labels, so this is normally the identity;
	// otherwise a hash keeps two names that clean alike apart.
	if clean != id || len(clean) > 128 {
		h := fnv.New32a()
		h.Write([]byte(id))
		clean = fmt.Sprintf("%s-%08x", clean[:min(len(clean), 120)], h.Sum32())
	}
	return contract.StreamConsumerPrefix + clean
}

// ingestTopic checks a stream topic: ingest.<tenant>.<at least one more
// token>, tokens non-empty, wildcards only as whole tokens and '>' last.
// It returns the tenant.
func ingestTopic(topic string) (string, error) {
	toks := strings.Split(topic, ".")
	if len(toks) < 3 || toks[0] != contract.TenantSubjectPrefix {
		return "", fmt.Errorf("stream topic %q must be %s.<tenant>.<subject> (e.g. %s)", topic, contract.TenantSubjectPrefix, contract.TenantSubjects("tenant1"))
	}
	if !core.ValidTenant(toks[1]) {
		return "", fmt.Errorf("stream topic %q: %q is not a tenant id (letters, digits, '-' and '_')", topic, toks[1])
	}
	for i, tok := range toks {
		switch {
		case tok == "":
			return "", fmt.Errorf("stream topic %q has an empty token", topic)
		case tok == ">" && i != len(toks)-1:
			return "", fmt.Errorf("stream topic %q: '>' must be the last token", topic)
		case tok != ">" && tok != "*" && strings.ContainsAny(tok, "*> \t\r\n"):
			return "", fmt.Errorf("stream topic %q: token %q mixes wildcards or spaces into a name", topic, tok)
		}
	}
	return toks[1], nil
}

// subjectCovers reports whether every subject matched by filter b is also
// matched by filter a.
func subjectCovers(a, b string) bool {
	ta, tb := strings.Split(a, "."), strings.Split(b, ".")
	for i, t := range ta {
		if t == ">" {
			return len(tb) > i
		}
		if i >= len(tb) || tb[i] == ">" {
			return false
		}
		if t != "*" && t != tb[i] {
			return false
		}
	}
	return len(ta) == len(tb)
}

// streamSpec is one function's subscription to its tenant's stream, as
// its annotations and the last function list describe it.
type streamSpec struct {
	fn      core.Target
	tenant  string
	stream  string
	durable string
	// topics are the consumer's filter subjects; none covers another, since
	// JetStream refuses overlapping filters.
	topics      []string
	batchSize   int
	batchWindow time.Duration
	maxInflight int
	// rawJSON: the function takes JSON object payloads as raw JSON
	// (contract.AnnotationRecordEncoding).
	rawJSON bool
	// replicas is the function's replica count, at least 1, so that a
	// function scaled to zero still gets a batch, which wakes it.
	replicas int
	// problems are annotation values that were ignored, for the log.
	problems []string
}

// topicHeader is the X-Topic a function is invoked with: its topic, or
// its topics as its annotation lists them.
func (s *streamSpec) topicHeader() string { return strings.Join(s.topics, ",") }

// concurrency is how many batches may be in flight for the function:
// replicas × per-replica in-flight, within maxConcurrent, and never more
// than the consumer's ack-pending room holds (further pulls would come
// back empty).
func (s *streamSpec) concurrency(maxConcurrent, maxAckPending int) int {
	n := min(s.replicas*s.maxInflight, maxConcurrent, max(1, maxAckPending/s.batchSize))
	return max(1, n)
}

// sameConsumer reports whether t needs the same JetStream consumer as s.
func (s *streamSpec) sameConsumer(t *streamSpec) bool {
	return s.stream == t.stream && slices.Equal(s.topics, t.topics)
}

// streamProblem is a function's stream subscription that is refused.
type streamProblem struct {
	fn  core.Target
	err error
}

// streamSpecs reads the stream subscriptions of a function list, keyed by
// durable consumer name. A function subscribes through ingest.* entries of
// its topic annotation; those owned by another tenant are left to the
// route table's misconfiguration report, not repeated here.
//
// Platform functions (no tenant label) may instead subscribe to a platform
// stream, like the stats function to the reports: a topic under one of
// platform's subjects. Tenant functions may not: reports name every tenant.
func streamSpecs(fns []types.FunctionStatus, platform []platformStream) (map[string]*streamSpec, []streamProblem) {
	specs := map[string]*streamSpec{}
	var problems []streamProblem
	for _, fn := range fns {
		_, ann := core.FunctionMaps(fn)
		t := core.TargetOf(fn)
		var topics []string
		stream := contract.TenantStream(t.Tenant)
		for _, topic := range core.ParseTopics(ann[contract.AnnotationTopic]) {
			if ps, ok := platformStreamOf(platform, topic); ok {
				switch {
				case t.Tenant != "":
					problems = append(problems, streamProblem{fn: t, err: fmt.Errorf("topic %q is the platform's; only functions without a %s label may subscribe to it", topic, contract.LabelTenant)})
				case len(topics) > 0 && stream != ps.stream:
					problems = append(problems, streamProblem{fn: t, err: fmt.Errorf("topic %q is on stream %s, the function's other topics on %s: one stream per function", topic, ps.stream, stream)})
				default:
					stream = ps.stream
					topics = append(topics, topic)
				}
				continue
			}
			if !strings.HasPrefix(topic, contract.TenantSubjectPrefix+".") {
				continue
			}
			owner, err := ingestTopic(topic)
			if err != nil {
				problems = append(problems, streamProblem{fn: t, err: err})
				continue
			}
			if owner != t.Tenant {
				continue // another tenant's: reported by the routing table
			}
			topics = append(topics, topic)
		}
		if len(topics) == 0 {
			continue
		}
		slices.Sort(topics)
		topics = slices.DeleteFunc(slices.Clone(topics), func(b string) bool {
			return slices.ContainsFunc(topics, func(a string) bool { return a != b && subjectCovers(a, b) })
		})
		s := &streamSpec{
			fn:       t,
			tenant:   t.Tenant,
			stream:   stream,
			durable:  ConsumerName(fn.Name, fn.Namespace),
			topics:   topics,
			replicas: int(max(1, min(fn.Replicas, 1000))),
		}
		s.batchSize = intAnnotation(ann, contract.AnnotationBatchSize, DefaultBatchSize, MaxBatchSize, &s.problems)
		s.maxInflight = intAnnotation(ann, contract.AnnotationMaxInflight, 1, MaxInflightPerReplica, &s.problems)
		s.rawJSON = recordEncodingJSON(ann, &s.problems)
		s.batchWindow = DefaultBatchWindow
		if v, ok := ann[contract.AnnotationBatchWindow]; ok {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			switch {
			case err != nil || d < 0:
				s.problems = append(s.problems, fmt.Sprintf("%s=%q is not a non-negative Go duration; using %s", contract.AnnotationBatchWindow, v, DefaultBatchWindow))
			case d > MaxBatchWindow:
				s.problems = append(s.problems, fmt.Sprintf("%s=%q is above %s; using %s", contract.AnnotationBatchWindow, v, MaxBatchWindow, MaxBatchWindow))
				s.batchWindow = MaxBatchWindow
			default:
				s.batchWindow = max(d, minBatchWindow)
			}
		}
		specs[s.durable] = s
	}
	return specs, problems
}

// platformStream is a stream of the platform's own (not a tenant's) that
// platform functions may subscribe to: its subjects are subject.>.
type platformStream struct {
	stream  string
	subject string
}

// platformStreamOf returns the platform stream a topic is on.
func platformStreamOf(platform []platformStream, topic string) (platformStream, bool) {
	for _, ps := range platform {
		if topic == ps.subject+".>" || (strings.HasPrefix(topic, ps.subject+".") && !strings.ContainsAny(topic, " \t")) {
			return ps, true
		}
	}
	return platformStream{}, false
}

// intAnnotation reads a positive integer annotation, defaulting when
// absent or invalid and capping at hi; ignored values go to problems.
func intAnnotation(ann map[string]string, key string, def, hi int, problems *[]string) int {
	v, ok := ann[key]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil || n < 1:
		*problems = append(*problems, fmt.Sprintf("%s=%q is not a positive integer; using %d", key, v, def))
		return def
	case n > hi:
		*problems = append(*problems, fmt.Sprintf("%s=%q is above %d; using %d", key, v, hi, hi))
		return hi
	}
	return n
}
