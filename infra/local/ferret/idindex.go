package ferret

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

// FerretDB v1.24's SQLite backend indexes _id as `_ferretdb_sjson->"_id"`
// but queries it as `_ferretdb_sjson->'$._id'`. SQLite matches index
// expressions by their text, so no lookup by _id uses the index: a
// findOne, a delete or a replace of one document scans the collection
// (measured 40 ms for each at 20 000 documents, 0.5 ms with the index),
// which makes every re-ingested row cost in proportion to the whole
// collection. The index keeper adds, to every collection's table, an
// index on the very expression the queries use. It is invisible to
// MongoDB clients (FerretDB lists indexes from its own metadata), goes
// away with its table, and is only ever an accelerator: until a new
// collection has it, lookups are as slow as before, never wrong.

// IDIndexInterval is how often the keeper looks for collections without
// the index.
const IDIndexInterval = time.Second

// idIndexSuffix names the keeper's index: <table>_mysimbdp_id.
const idIndexSuffix = "_mysimbdp_id"

// keepIDIndexes indexes every collection in dir until ctx ends.
func keepIDIndexes(ctx context.Context, dir string, log *slog.Logger) {
	t := time.NewTicker(IDIndexInterval)
	defer t.Stop()
	for {
		if err := indexAll(ctx, dir); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "could not add the _id lookup index; lookups by _id stay scans", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// indexAll adds the index to each table of each database file in dir
// that does not have it yet.
func indexAll(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return fmt.Errorf("list the database files: %w", err)
	}
	for _, f := range files {
		if err := indexFile(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// indexFile indexes the collections of one database file. The file is
// opened for this pass only: FerretDB removes it when the database is
// dropped and makes a new one if it is created again.
func indexFile(ctx context.Context, file string) error {
	// mode=rw: never create a file FerretDB has just removed.
	dsn := (&url.URL{Scheme: "file", Path: file, OmitHost: true}).String() +
		"?mode=rw&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	// Read-only unless a table lacks the index, so a pass takes no write
	// lock from FerretDB's writers.
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || ?)`, idIndexSuffix)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") || strings.Contains(err.Error(), "unable to open") {
			return nil // a database being created or dropped right now
		}
		return fmt.Errorf("list the collections of %s: %w", file, err)
	}
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			rows.Close()
			return fmt.Errorf("list the collections of %s: %w", file, err)
		}
		tables = append(tables, table)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the collections of %s: %w", file, err)
	}
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idIndexSuffix, table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // dropped since it was listed
			}
			return fmt.Errorf("index _id of %s in %s: %w", table, file, err)
		}
	}
	return nil
}
