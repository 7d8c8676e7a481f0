package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// RemovedDataset is a dataset that left the tenant's profile, and what
// became of what only it used.
type RemovedDataset struct {
	Name string
	// Earlier says it left the profile at an earlier apply, which kept
	// its collections; otherwise at this one.
	Earlier bool
	// Database holds its collections.
	Database string
	// Collections are the dataset's collections (its sink, the sink's
	// quarantine, its fan-out) that no dataset of the profile writes.
	Collections []string
	// Dropped says Collections were dropped (ApplyOptions.DropRemovedData);
	// otherwise they are kept, rows and all, and remembered, so that a
	// later apply with DropRemovedData drops them.
	Dropped bool
	// Note says why collections that were to be dropped were kept.
	Note string
}

// keptDataset is what the store remembers of a removed dataset whose
// collections were kept.
type keptDataset struct {
	Database    string   `json:"database"`
	Collections []string `json:"collections"`
}

const removedDatasetsFile = "removed-datasets.json"

// removedData returns the kept collections of the tenant's removed
// datasets, by dataset (empty if none).
func (s Store) removedData(tenant string) (map[string]keptDataset, error) {
	out := map[string]keptDataset{}
	raw, err := os.ReadFile(filepath.Join(s.tenantDir(tenant), removedDatasetsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s: removed datasets' record: %w", tenant, err)
	}
	return out, nil
}

// saveRemovedData records k; an empty record is deleted.
func (s Store) saveRemovedData(tenant string, k map[string]keptDataset) error {
	if len(k) == 0 {
		err := os.Remove(filepath.Join(s.tenantDir(tenant), removedDatasetsFile))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tenant %s: removed datasets' record: %w", tenant, err)
		}
		return nil
	}
	raw, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("tenant %s: removed datasets' record: %w", tenant, err)
	}
	return s.write(tenant, removedDatasetsFile, raw)
}

// removedDatasets are the datasets of old (the profile last applied) that
// cur does not have, by name. This is where what a dataset has of its own
// is found; tearDownDatasets tears it down. A profile without datasets
// has its default one, so declaring datasets for the first time removes
// "default"; its collections are usually a new dataset's, and then kept.
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
// profile used: those of old that cur has not, and those an earlier apply
// removed and kept. The platform's functions serve every dataset of the
// tenant and stay. What a dataset has of its own is its collections,
// which hold the tenant's data: they are kept (and remembered) unless
// drop, and a collection cur still writes (a renamed dataset, the default
// dataset's sink taken over by a declared one) is never dropped. A
// dataset that comes back takes its kept collections back.
func (pl Platform) tearDownDatasets(ctx context.Context, old, cur *profile.Profile, drop bool) ([]RemovedDataset, error) {
	tenant := cur.Tenant
	kept, err := pl.Store.removedData(tenant)
	if err != nil {
		return nil, err
	}
	removed := removedDatasets(old, cur)
	if len(removed) == 0 && len(kept) == 0 {
		return nil, nil
	}
	now := map[string]bool{}
	for _, d := range removed {
		now[d.Name] = true
		k := kept[d.Name]
		k.Database = old.Sink.Database
		for _, c := range datasetCollections(d) {
			if !slices.Contains(k.Collections, c) {
				k.Collections = append(k.Collections, c)
			}
		}
		kept[d.Name] = k
	}
	var still []string
	for _, d := range cur.AllDatasets() {
		still = append(still, datasetCollections(d)...)
	}
	log := pl.log().With("tenant", tenant)
	var out []RemovedDataset
	for _, name := range slices.Sorted(maps.Keys(kept)) {
		k := kept[name]
		if _, back := cur.Dataset(name); back {
			delete(kept, name)
			continue
		}
		r := RemovedDataset{Name: name, Earlier: !now[name], Database: k.Database,
			Collections: slices.DeleteFunc(slices.Clone(k.Collections), func(c string) bool { return slices.Contains(still, c) })}
		// Dataset-specific platform state (per-dataset metadata, indexes
		// kept apart from the collections) is torn down here, whatever
		// drop says: it holds no tenant data.
		switch {
		case len(r.Collections) == 0:
			delete(kept, name)
		case !drop:
			kept[name] = keptDataset{Database: k.Database, Collections: r.Collections}
		case k.Database != cur.Sink.Database:
			r.Note = fmt.Sprintf("they are in database %s, no longer the tenant's (%s): not dropped", k.Database, cur.Sink.Database)
			kept[name] = keptDataset{Database: k.Database, Collections: r.Collections}
		default:
			db := pl.Mongo.Database(k.Database)
			for _, c := range r.Collections {
				log.Info("drop collection of a removed dataset", "dataset", name, "collection", c)
				if err := db.Collection(c).Drop(ctx); err != nil {
					return out, fmt.Errorf("tenant %s: removed dataset %s: drop collection %s.%s: %w", tenant, name, k.Database, c, err)
				}
			}
			r.Dropped = true
			delete(kept, name)
		}
		if r.Earlier && len(r.Collections) == 0 {
			continue // nothing of its own left: nothing to say
		}
		log.Info("dataset removed", "dataset", name, "collections", r.Collections, "dropped", r.Dropped, "earlier", r.Earlier)
		out = append(out, r)
	}
	if err := pl.Store.saveRemovedData(tenant, kept); err != nil {
		return out, err
	}
	return out, nil
}
