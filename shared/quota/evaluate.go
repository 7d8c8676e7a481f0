package quota

import (
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Usage is what a tenant did recently, as the stats function measured it
// from the reports it stored and the tenant's database.
type Usage struct {
	// Messages and StreamBytes are summed over the tenant's stream window
	// reports whose window ended within one stream.window of the latest
	// recent report's end, StreamEnd.
	Messages    int64
	StreamBytes int64
	StreamEnd   time.Time
	// StorageBytes is the size of the tenant's database; StorageKnown is
	// false when it could not be measured.
	StorageBytes int64
	StorageKnown bool
}

// Evaluate is the decision for tenant p given its recent usage, the
// decision in force (prev; Allowed when there is none) and the time.
//
//   - Storage over storage.max_bytes blocks the tenant with no end: the
//     block lasts until an evaluation finds the database under its limit
//     again (an unknown size keeps a block in force).
//   - Messages or bytes over the stream limits throttle it. The throttle lasts long
//     enough for the average rate to respect the quota: used/limit windows
//     in all counting the one just used, so it ends at the usage's end +
//     window × (ceil(used/limit) − 1), one window at least.
//   - A throttle in force is kept until its end, and only extended, never
//     shortened, by new usage.
//   - Otherwise the tenant is allowed.
//
// A new decision has DecidedAt = now; when prev still stands it is returned
// as it is, so that Changed tells whether there is anything to store.
func Evaluate(p *profile.Profile, u Usage, prev Decision, now time.Time) Decision {
	tenant := p.Tenant
	if limit := int64(p.Storage.MaxBytes); limit > 0 {
		switch {
		case u.StorageKnown && u.StorageBytes > limit:
			return Decision{Tenant: tenant, State: Blocked, DecidedAt: now,
				Reason: fmt.Sprintf("database %s holds %d bytes, over the profile's storage.max_bytes of %s; new work waits until it is under",
					p.Sink.Database, u.StorageBytes, p.Storage.MaxBytes)}
		case !u.StorageKnown && prev.State == Blocked:
			return prev // nothing says the cause is gone
		}
	}

	var (
		until   time.Time
		reasons []string
	)
	over := func(used, limit int64, window time.Duration, end time.Time, say string) {
		if limit <= 0 || window <= 0 || used <= limit {
			return
		}
		windows := (used + limit - 1) / limit // ceil(used/limit) ≥ 2
		t := end.Add(window * time.Duration(windows-1))
		if !t.After(now) {
			return // measured late: the pause it called for is already over
		}
		if t.After(until) {
			until = t
		}
		reasons = append(reasons, say)
	}
	sw := p.Stream.Window.D()
	at := func(t time.Time) string { return t.UTC().Format(time.TimeOnly) }
	over(u.Messages, p.Stream.MaxMessagesPerWindow, sw, u.StreamEnd,
		fmt.Sprintf("%d messages in the %s window ending %s, over the profile's stream.max_messages_per_window of %d",
			u.Messages, sw, at(u.StreamEnd), p.Stream.MaxMessagesPerWindow))
	over(u.StreamBytes, int64(p.Stream.MaxBytesPerWindow), sw, u.StreamEnd,
		fmt.Sprintf("%d bytes in the %s window ending %s, over the profile's stream.max_bytes_per_window of %s",
			u.StreamBytes, sw, at(u.StreamEnd), p.Stream.MaxBytesPerWindow))

	if len(reasons) > 0 {
		if prev.State == Throttled && prev.Holds(now) && !until.After(prev.Until) {
			return prev
		}
		return Decision{Tenant: tenant, State: Throttled, Until: until, DecidedAt: now,
			Reason: strings.Join(reasons, "; ") + "; paused until " + at(until) + " so that the average rate keeps to the quota"}
	}
	if prev.State == Throttled && prev.Holds(now) {
		return prev
	}
	reason := fmt.Sprintf("within the profile's limits: %d messages and %d bytes in the last %s",
		u.Messages, u.StreamBytes, sw)
	if u.StorageKnown && p.Storage.MaxBytes > 0 {
		reason += fmt.Sprintf(", database %s holds %d bytes of %s", p.Sink.Database, u.StorageBytes, p.Storage.MaxBytes)
	}
	return Decision{Tenant: tenant, State: Allowed, DecidedAt: now, Reason: reason}
}

// Changed reports whether next differs from prev in what it makes the
// connector do (state or end), so that the same verdict reached again is
// not written again: an allowed tenant stays allowed without KV traffic.
func Changed(prev, next Decision) bool {
	return prev.State != next.State || !prev.Until.Equal(next.Until)
}
