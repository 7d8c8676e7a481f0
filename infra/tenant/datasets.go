package tenant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// RemovedDataset is a dataset the profile last applied had and the one
// applied now does not, and what became of what only it used.
type RemovedDataset struct {
	Name string
	// Collections are the dataset's collections in the tenant's database
	// (its sink, the sink's quarantine, its fan-out) that no dataset of
	// the profile applied now writes.
	Collections []string
	// Dropped says Collections were dropped (ApplyOptions.DropRemovedData);
	// otherwise they are kept, rows and all.
	Dropped bool
	// Note says why collections that were to be dropped were kept.
	Note string
}

// removedDatasets are the datasets of old (the profile last applied) that
// cur does not have, by name. A profile without datasets has its default
// one, so declaring datasets for the first time removes "default"; its
// collections are usually a new dataset's, and then kept (see
// tearDownDatasets).
func removedDatasets(old, cur *profile.Profile) []profile.Dataset {
	if old == nil {
		return nil
	}
	var out []profile.Dataset
	for _, d := range old.AllDatasets() {
		if _, ok := cur.Dataset(d.Name); !ok {
			out = append(out, d)
		}
	}
	return out
}

// datasetCollections are the collections dataset d writes: its sink, the
// sink's quarantine and its fan-out.
func datasetCollections(d profile.Dataset) []string {
	out := []string{d.Sink.Collection, d.Sink.Collection + profile.QuarantineSuffix}
	for _, f := range d.Fanout {
		out = append(out, f.Collection)
	}
	return out
}

// storedProfile is the profile the tenant was last applied with; nil when
// it has none, or one this version cannot read (then no dataset is taken
// for removed).
func (pl Platform) storedProfile(tenant string) (*profile.Profile, error) {
	raw, err := pl.Store.Profile(tenant)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s: read the profile last applied: %w", tenant, err)
	}
	old, err := profile.Parse(raw, "profile last applied to "+tenant)
	if err != nil {
		pl.log().Warn("the profile last applied does not read any more; no dataset is taken for removed", "tenant", tenant, "err", err)
		return nil, nil
	}
	return old, nil
}

// tearDownDatasets tears down what only the datasets that left the
// profile used. The platform's functions serve every dataset of the
// tenant and stay; what a dataset has of its own is its collections,
// which hold the tenant's data: they are kept unless drop, and a
// collection cur still writes (a renamed dataset, the default
// dataset's sink taken over by a declared one) is never dropped.
func (pl Platform) tearDownDatasets(ctx context.Context, old, cur *profile.Profile, drop bool) ([]RemovedDataset, error) {
	removed := removedDatasets(old, cur)
	if len(removed) == 0 {
		return nil, nil
	}
	var still []string
	for _, d := range cur.AllDatasets() {
		still = append(still, datasetCollections(d)...)
	}
	log := pl.log().With("tenant", cur.Tenant)
	var out []RemovedDataset
	for _, d := range removed {
		r := RemovedDataset{Name: d.Name}
		for _, c := range datasetCollections(d) {
			if !slices.Contains(still, c) && !slices.Contains(r.Collections, c) {
				r.Collections = append(r.Collections, c)
			}
		}
		// Dataset-specific platform state (per-dataset metadata, indexes
		// kept apart from the collections) is torn down here, whatever
		// drop says: it holds no tenant data.
		switch {
		case !drop || len(r.Collections) == 0:
		case old.Sink.Database != cur.Sink.Database:
			r.Note = fmt.Sprintf("the tenant's database changed from %s to %s: collections of the old one are not dropped", old.Sink.Database, cur.Sink.Database)
		default:
			db := pl.Mongo.Database(cur.Sink.Database)
			for _, c := range r.Collections {
				log.Info("drop collection of a removed dataset", "dataset", d.Name, "collection", c)
				if err := db.Collection(c).Drop(ctx); err != nil {
					return out, fmt.Errorf("tenant %s: removed dataset %s: drop collection %s.%s: %w", cur.Tenant, d.Name, cur.Sink.Database, c, err)
				}
			}
			r.Dropped = true
		}
		log.Info("dataset removed", "dataset", d.Name, "collections", r.Collections, "dropped", r.Dropped)
		out = append(out, r)
	}
	return out, nil
}
