package stats

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
)

// streamHorizon is how many stream windows back a late report still
// counts for the quota.
const streamHorizon = 3

func quotaControl(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	kv, err := quota.ControlKV(ctx, js, replicas)
	if err != nil {
		return nil, fmt.Errorf("open the quota decisions: %w", err)
	}
	return kv, nil
}

// Evaluate decides every onboarded tenant's quota from its recent usage
// and profile (quota.Evaluate) and stores the decisions that change: in
// the control bucket, where the connector reads them, in the decisions
// history, and in the log. A tenant whose usage cannot be read keeps its
// decision; the others are still evaluated, and the errors are joined.
func (s *Service) Evaluate(ctx context.Context) error {
	profiles, err := quota.Profiles(ctx, s.js)
	var errs []error
	if err != nil {
		errs = append(errs, err) // the profiles that parse are still judged
	}
	names := make([]string, 0, len(profiles))
	for t := range profiles {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		if err := s.evaluate(ctx, profiles[t]); err != nil {
			errs = append(errs, fmt.Errorf("evaluate the quota of %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) evaluate(ctx context.Context, p *profile.Profile) error {
	now := s.now()
	u, err := s.usage(ctx, p, now)
	if err != nil {
		return err
	}
	cur, rev, err := quota.Current(ctx, s.control, p.Tenant)
	if err != nil {
		return err
	}
	next := quota.Evaluate(p, u, cur, now)
	if !quota.Changed(cur, next) {
		return nil
	}
	stored, err := quota.Replace(ctx, s.control, next, rev)
	if err != nil {
		return err
	}
	if !stored {
		s.log.DebugContext(ctx, "another evaluation decided first", "tenant", p.Tenant)
		return nil
	}
	attrs := []any{"tenant", next.Tenant, "state", next.State, "reason", next.Reason, "previous", cur.State}
	if !next.Until.IsZero() {
		attrs = append(attrs, "until", next.Until)
	}
	s.log.InfoContext(ctx, "quota decision", attrs...)
	if _, err := s.decisions.InsertOne(ctx, decisionDoc(next)); err != nil {
		return fmt.Errorf("record the decision in %s: %w", DecisionsCollection, err)
	}
	return nil
}

// decisionDoc is a decision as the history stores it; Until is left out
// when zero rather than stored as year 1.
func decisionDoc(d quota.Decision) bson.D {
	doc := bson.D{{Key: "tenant", Value: d.Tenant}, {Key: "state", Value: string(d.State)}}
	if !d.Until.IsZero() {
		doc = append(doc, bson.E{Key: "until", Value: d.Until})
	}
	return append(doc, bson.E{Key: "reason", Value: d.Reason}, bson.E{Key: "decided_at", Value: d.DecidedAt})
}

// usage measures what quota.Evaluate needs from the stored reports and the
// tenant's database.
func (s *Service) usage(ctx context.Context, p *profile.Profile, now time.Time) (quota.Usage, error) {
	var u quota.Usage
	if w := p.Stream.Window.D(); w > 0 {
		// The window is the one ending at the latest report, not at now: a
		// report reaches us some time after its window ended (the REPORTS
		// stream, the connector), and must still count. Reports older than
		// streamHorizon windows are too late to matter.
		type window struct {
			at             time.Time
			messages, size int64
		}
		var recent []window // bounded: a few windows' reports per replica
		err := each(ctx, s.reports, bson.D{
			{Key: "tenant", Value: p.Tenant}, {Key: "kind", Value: contract.KindStream},
			{Key: "at", Value: bson.D{{Key: "$gt", Value: now.Add(-streamHorizon * w)}}},
		}, func(e *entry) {
			recent = append(recent, window{e.At, e.Messages, e.Bytes})
			if e.At.After(u.StreamEnd) {
				u.StreamEnd = e.At
			}
		}, options.Find().SetProjection(bson.D{{Key: "messages", Value: 1}, {Key: "bytes", Value: 1}, {Key: "at", Value: 1}}))
		if err != nil {
			return u, err
		}
		for _, r := range recent {
			if r.at.After(u.StreamEnd.Add(-w)) {
				u.Messages += r.messages
				u.StreamBytes += r.size
			}
		}
	}
	if p.Storage.MaxBytes > 0 {
		n, err := s.storage(ctx, p.Sink.Database, now)
		if err != nil {
			// Unknown: a block stays, nobody new is blocked.
			s.log.WarnContext(ctx, "cannot measure a tenant database", "tenant", p.Tenant, "database", p.Sink.Database, "err", err)
		} else {
			u.StorageBytes, u.StorageKnown = n, true
		}
	}
	return u, nil
}

// storage is the size of database db as dbStats reports it (totalSize, or
// storageSize + indexSize where totalSize is missing), measured at most
// once per platform window.
func (s *Service) storage(ctx context.Context, db string, now time.Time) (int64, error) {
	s.mu.Lock()
	m, ok := s.sizes[db]
	s.mu.Unlock()
	if ok && now.Sub(m.at) < s.cfg.Window {
		return m.bytes, nil
	}
	var st bson.M
	if err := s.db.Database(db).RunCommand(ctx, bson.D{{Key: "dbStats", Value: 1}}).Decode(&st); err != nil {
		return 0, fmt.Errorf("dbStats of %s: %w", db, err)
	}
	n, ok := number(st["totalSize"])
	if !ok {
		data, ok1 := number(st["storageSize"])
		index, ok2 := number(st["indexSize"])
		if !ok1 || !ok2 {
			return 0, fmt.Errorf("dbStats of %s: no totalSize nor storageSize and indexSize in %v", db, st)
		}
		n = data + index
	}
	s.mu.Lock()
	s.sizes[db] = measured{bytes: n, at: now}
	s.mu.Unlock()
	return n, nil
}

// number reads a BSON number of any width.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	}
	return 0, false
}
