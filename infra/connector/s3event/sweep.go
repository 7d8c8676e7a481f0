package s3event

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The sweep is the backstop for an upload whose MinIO notification never
// reached the S3 events stream (MinIO lost it, or the stream refused it
// until MinIO gave up): every SweepInterval it lists the incoming/ folder
// of each bucket some function subscribes to, and announces again an
// object older than SweepAge that has no event pending.
//
// "No event pending" is decided cheaply, without reading the streams:
//
//   - an object this connector is handling, or handled within the longest
//     time an event waits before it comes back (it keeps coming back
//     while it is deferred or retried), is pending;
//   - any other object is announced at most once per version (bucket,
//     key, ETag): a marker in the KV bucket SweepBucket, created
//     atomically, says it was, for every connector replica and across
//     restarts, until the bucket's TTL (EventsMaxAge) forgets it.
//
// So an object whose event another replica holds, or whose event waited
// while this connector restarted, may be announced once more than needed.
// That duplicate is harmless: the batch function is idempotent per
// ingestion record (tenant/bucket/key@etag): a finished version returns
// its stored report, a partly ingested one is rewritten under the same
// document ids, and an object that left incoming/ is skipped. A file that
// was dead-lettered and stays in incoming/ is tried once more per TTL.

// pending is the objects this connector holds an event of.
type pending struct {
	mu sync.Mutex
	m  map[objectVersion]*pendingEntry
}

type objectVersion struct{ bucket, key, etag string }

type pendingEntry struct {
	// active counts the handlers holding the object's events now.
	active int
	// last is when one of them last began or ended.
	last time.Time
}

func (p *pending) begin(r s3Route) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[objectVersion]*pendingEntry{}
	}
	for i, k := range r.keys {
		v := objectVersion{r.bucket, k, r.etags[i]}
		e := p.m[v]
		if e == nil {
			e = &pendingEntry{}
			p.m[v] = e
		}
		e.active++
		e.last = time.Now()
	}
}

// end marks a handler done; done says the event will not come back.
func (p *pending) end(r s3Route, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, k := range r.keys {
		v := objectVersion{r.bucket, k, r.etags[i]}
		e := p.m[v]
		if e == nil {
			continue
		}
		e.active--
		e.last = time.Now()
		if done && e.active <= 0 {
			delete(p.m, v)
		}
	}
}

// held reports whether an event of v is being handled, or was within
// fresh; an event without an ETag holds every version of its key.
func (p *pending) held(v objectVersion, fresh time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range []objectVersion{v, {v.bucket, v.key, ""}} {
		if e := p.m[k]; e != nil && (e.active > 0 || time.Since(e.last) < fresh) {
			return true
		}
	}
	return false
}

// prune forgets the objects not held within fresh.
func (p *pending) prune(fresh time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for v, e := range p.m {
		if e.active <= 0 && time.Since(e.last) >= fresh {
			delete(p.m, v)
		}
	}
}

// freshFor is how long after its last handling an event may still come
// back: the longest it waits (a deferral, a quota recheck, a back-off),
// plus an AckWait and a sweep.
func (f *Flow) freshFor() time.Duration {
	return max(f.pol.MaxRetryAfter, f.pol.BackoffMax, quotaRecheck) + f.pol.AckWait + f.cfg.SweepInterval
}

// sweepLoop sweeps every SweepInterval until ctx is done.
func (f *Flow) sweepLoop(ctx context.Context) {
	if f.cfg.S3 == nil {
		f.log.Info("no MinIO credentials: uploads whose notification is lost are not swept in")
	}
	tick := time.NewTicker(f.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// Bounded, so that a hung listing does not stop the loop.
		sctx, cancel := context.WithTimeout(ctx, max(f.cfg.SweepInterval, time.Minute))
		f.sweep(sctx)
		cancel()
	}
}

// sweep runs one pass: the waiting stream's settled events purged, then
// every subscribed bucket's incoming/ folder looked at.
func (f *Flow) sweep(ctx context.Context) {
	if err := f.purgeSettled(ctx); err != nil && ctx.Err() == nil {
		f.log.Warn("purge settled events from the waiting stream", "err", err)
	}
	fresh := f.freshFor()
	f.pending.prune(fresh)
	rt := f.dir.Routes()
	if f.cfg.S3 == nil || rt == nil {
		return
	}
	kv, err := f.js.KeyValue(ctx, f.cfg.SweepBucket)
	if err != nil {
		if ctx.Err() == nil {
			f.m.sweepErrors.Inc()
			f.log.Warn("sweep: open the KV bucket of announced objects; no sweep this time", "bucket", f.cfg.SweepBucket, "err", err)
		}
		return
	}
	swept := map[string]bool{}
	for _, topic := range rt.Topics() {
		// A bucket may have several topics (s3:<bucket>/<prefix>): swept
		// once.
		bucket, ok := TopicOwner(topic)
		if !ok || swept[bucket] {
			continue
		}
		swept[bucket] = true
		f.sweepBucket(ctx, kv, bucket, fresh)
	}
	f.m.sweeps.Inc()
}

// sweepBucket announces again the objects of bucket's incoming/ folder
// that are older than SweepAge and have no event pending.
func (f *Flow) sweepBucket(ctx context.Context, kv jetstream.KeyValue, bucket string, fresh time.Duration) {
	for o, err := range ListIncoming(ctx, f.cfg.S3, bucket, f.cfg.IncomingPrefix) {
		if err != nil {
			if ctx.Err() == nil {
				f.m.sweepErrors.Inc()
				f.log.Warn("sweep: list the bucket", "tenant", bucket, "err", err)
			}
			return
		}
		age := time.Since(o.LastModified)
		etag := strings.Trim(o.ETag, `"`)
		if age < f.cfg.SweepAge || f.pending.held(objectVersion{bucket, o.Key, etag}, fresh) {
			continue
		}
		mark := announcedKey(bucket, o.Key, etag)
		if _, err := kv.Create(ctx, mark, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				f.m.sweepErrors.Inc()
				f.log.Warn("sweep: mark an object announced", "tenant", bucket, "key", o.Key, "err", err)
			}
			continue // announced before, or not now
		}
		if err := PublishCreated(ctx, f.js, f.cfg.Subject, bucket, o, "sweep-"+mark); err != nil {
			// Unmarked, so that the next sweep tries again.
			if derr := kv.Delete(context.WithoutCancel(ctx), mark); derr != nil {
				err = errors.Join(err, derr)
			}
			f.m.sweepErrors.Inc()
			f.log.Error("sweep: announce an object again", "tenant", bucket, "key", o.Key, "err", err)
			continue
		}
		f.m.swept.WithLabelValues(bucket).Inc()
		f.log.Warn("sweep: announced again an object with no pending event (its notification was lost?)",
			"tenant", bucket, "key", o.Key, "etag", etag, "age", age.Round(time.Second))
	}
}

// announcedKey is the KV key marking an object version announced: the
// bucket, then a digest of key and ETag (object keys may hold any
// character, KV keys only a few).
func announcedKey(bucket, key, etag string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + etag))
	return bucket + "." + hex.EncodeToString(sum[:16])
}
