package console

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/quota"
	"github.com/mysimbdp/mysimbdp/shared/scale"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// Deps are what the console reads and acts through: the gateway (with
// its credentials), JetStream with the platform's rights, and the
// platform's MongoDB. Zero optional fields take defaults.
type Deps struct {
	Gateway   *gateway.Client
	JetStream jetstream.JetStream
	Mongo     *mongo.Client
	// PlatformDB is the platform database (contract.DefaultPlatformDB).
	PlatformDB string
	// DeadLetters is the dead-letter store the CLI uses too; nil: one over
	// JetStream with the contract's names.
	DeadLetters *deadletter.Store
	Log         *slog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// SourceTimeout bounds each read of a page (default 3s): a slow
	// source shows as unavailable instead of holding the page.
	SourceTimeout time.Duration
	// CSRFKey signs the forms' tokens; empty: a random key per process.
	// Replicas behind one Service need the same key, or a form rendered
	// by one is refused by another.
	CSRFKey []byte
}

func (d Deps) withDefaults() (Deps, error) {
	if d.Gateway == nil || d.JetStream == nil || d.Mongo == nil {
		return d, errors.New("console: the gateway, JetStream and MongoDB are required")
	}
	d.PlatformDB = cmp.Or(d.PlatformDB, contract.DefaultPlatformDB)
	if d.DeadLetters == nil {
		d.DeadLetters = deadletter.New(d.JetStream, deadletter.Config{})
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SourceTimeout <= 0 {
		d.SourceTimeout = 3 * time.Second
	}
	return d, nil
}

// functionID is how the connector, the scaler and the gateway's metrics
// name a function: name.namespace.
func functionID(fn types.FunctionStatus) string {
	if fn.Namespace == "" {
		return fn.Name
	}
	return fn.Name + "." + fn.Namespace
}

func tenantOf(fn types.FunctionStatus) string {
	if fn.Labels == nil {
		return ""
	}
	return (*fn.Labels)[contract.LabelTenant]
}

// readFunctions lists every namespace's functions.
func readFunctions(ctx context.Context, gw *gateway.Client) ([]types.FunctionStatus, error) {
	nss, err := gw.Namespaces(ctx)
	if err != nil || len(nss) == 0 {
		nss = []string{""}
	}
	var out []types.FunctionStatus
	for _, ns := range nss {
		fns, err := gw.Functions(ctx, ns)
		if err != nil {
			return out, fmt.Errorf("list functions: %w", err)
		}
		out = append(out, fns...)
	}
	sort.Slice(out, func(i, j int) bool { return functionID(out[i]) < functionID(out[j]) })
	return out, nil
}

// readBucket returns every key's value of KV bucket name (none when the
// bucket does not exist yet), in one watch rather than a read per key.
func readBucket(ctx context.Context, js jetstream.JetStream, name string) (map[string][]byte, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return map[string][]byte{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s: %w", name, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read KV bucket %s: %w", name, err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string][]byte{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every current value is in
				return out, nil
			}
			out[e.Key()] = e.Value()
		case <-ctx.Done():
			return out, fmt.Errorf("read KV bucket %s: %w", name, ctx.Err())
		}
	}
}

// control is what the connector obeys, per tenant.
type controlFlags struct {
	paused    map[string]bool
	decisions map[string]quota.Decision
}

func readControl(ctx context.Context, js jetstream.JetStream) (controlFlags, error) {
	c := controlFlags{paused: map[string]bool{}, decisions: map[string]quota.Decision{}}
	vals, err := readBucket(ctx, js, contract.ControlBucket)
	for k, v := range vals {
		if t, ok := strings.CutPrefix(k, contract.PausedKeyPrefix); ok {
			c.paused[t] = strings.TrimSpace(string(v)) == "true"
		} else if t := quota.TenantOfKey(k); t != "" {
			var d quota.Decision
			if json.Unmarshal(v, &d) == nil {
				c.decisions[t] = d
			}
		}
	}
	return c, err
}

// readScaler is the scaler's memory per function id.
func readScaler(ctx context.Context, js jetstream.JetStream) (map[string]scale.State, error) {
	vals, err := readBucket(ctx, js, contract.ScalerBucket)
	out := map[string]scale.State{}
	for k, v := range vals {
		var st scale.State
		if json.Unmarshal(v, &st) == nil {
			out[k] = st
		}
	}
	return out, err
}

// scalerKey is the scaler's key of a function id (shared/scale).
func scalerKey(id string) string { return strings.ReplaceAll(id, ".", "_") }

// backlogs are the records waiting or in flight, per function (of the
// consumers the connector made for it) and per tenant (of its stream).
type backlogs struct {
	byFunction map[string]int64
	byTenant   map[string]int64
	streams    map[string]bool // tenants with a stream
}

func readBacklogs(ctx context.Context, js jetstream.JetStream) (backlogs, error) {
	b := backlogs{byFunction: map[string]int64{}, byTenant: map[string]int64{}, streams: map[string]bool{}}
	var names []string
	sl := js.ListStreams(ctx)
	for si := range sl.Info() {
		names = append(names, si.Config.Name)
	}
	if err := sl.Err(); err != nil {
		return b, fmt.Errorf("list streams: %w", err)
	}
	for _, name := range names {
		tenant, isTenant := contract.TenantOfStream(name)
		if isTenant {
			b.streams[tenant] = true
		}
		st, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			continue
		}
		if err != nil {
			return b, fmt.Errorf("stream %s: %w", name, err)
		}
		cl := st.ListConsumers(ctx)
		for ci := range cl.Info() {
			fn := ci.Config.Metadata[contract.ConsumerFunctionKey]
			if fn == "" {
				continue
			}
			n := int64(ci.NumPending) + int64(ci.NumAckPending)
			b.byFunction[fn] += n
			if isTenant {
				b.byTenant[tenant] += n
			}
		}
		if err := cl.Err(); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return b, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	return b, nil
}

// readWindows reads the stats function's windows starting at from or
// later (every tenant's and the platform's).
func readWindows(ctx context.Context, db *mongo.Database, from time.Time) ([]stats.Window, error) {
	cur, err := db.Collection(stats.WindowsCollection).Find(ctx, bson.D{{Key: "start", Value: bson.D{{Key: "$gte", Value: from}}}})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stats.WindowsCollection, err)
	}
	var out []stats.Window
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read %s: %w", stats.WindowsCollection, err)
	}
	return out, nil
}

// fileDoc is a finished file as the stats function keeps it
// (stats_files): _id is bucket/key@etag, report the report's record id.
type fileDoc struct {
	ID           string    `bson:"_id"`
	Tenant       string    `bson:"tenant"`
	At           time.Time `bson:"at"`
	Report       string    `bson:"report"`
	Status       string    `bson:"status"`
	Size         int64     `bson:"size"`
	RowsOK       int64     `bson:"rows_ok"`
	RowsRejected int64     `bson:"rows_rejected"`
	Bytes        int64     `bson:"bytes"`
	DurationMS   int64     `bson:"duration_ms"`
	Error        string    `bson:"error"`
}

// parts splits the file's id into bucket, key and etag.
func (f fileDoc) parts() (bucket, key, etag string) {
	rest := f.ID
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest, etag = rest[:i], rest[i+1:]
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, etag
}

// readFiles reads the newest finished files since from, newest first.
func readFiles(ctx context.Context, db *mongo.Database, from time.Time, limit int64) ([]fileDoc, error) {
	cur, err := db.Collection(stats.FilesCollection).Find(ctx,
		bson.D{{Key: "at", Value: bson.D{{Key: "$gte", Value: from}}}},
		options.Find().SetSort(bson.D{{Key: "at", Value: -1}}).SetLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stats.FilesCollection, err)
	}
	var out []fileDoc
	if err := cur.All(ctx, &out); err != nil {
		return nil, fmt.Errorf("read %s: %w", stats.FilesCollection, err)
	}
	return out, nil
}

// readProfiles reads every onboarded tenant's profile.
func readProfiles(ctx context.Context, js jetstream.JetStream) (map[string]*profile.Profile, error) {
	return quota.Profiles(ctx, js)
}
