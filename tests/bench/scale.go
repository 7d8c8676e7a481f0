package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/types"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mysimbdp/mysimbdp/infra/connector/stream"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/ecdc"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// ScaleOptions shape the step-load benchmark of the scaler.
type ScaleOptions struct {
	// Rate is the offered load after the step, records/s, for Duration.
	Rate     float64
	Duration time.Duration
	// Max and Target are the function's scaling labels; BatchSize its
	// batches.
	Max, Target, BatchSize int
	// Every is the scaler's schedule interval.
	Every time.Duration
	Log   *slog.Logger
}

// ScaleRun is one step-load run's figures.
type ScaleRun struct {
	Scaler bool
	// FirstUp is the time from the step to the first replica count above
	// one; ToPeak to the highest count seen, Peak.
	FirstUp, ToPeak time.Duration
	Peak            int
	// BacklogPeak is the highest consumer backlog (pending + in flight).
	BacklogPeak int64
	// Drained is the time from the step to every record stored.
	Drained time.Duration
	Records int
}

// ScaleRig is a whole local platform (infra/local/localstack) for the scaler
// benchmark: the stream function of one tenant under a step in load.
type ScaleRig struct {
	stack *localstack.Stack
	gw    *gateway.Client
	nc    *nats.Conn
	js    jetstream.JetStream
	db    *mongo.Client
	o     ScaleOptions
	next  int // the next row to publish
}

const scaleTenant = "tenant1"

// StartScaleRig starts the platform from repo's stack.yml in dir.
func StartScaleRig(ctx context.Context, repo, dir string, o ScaleOptions) (_ *ScaleRig, err error) {
	tenants := filepath.Join(dir, "tenants")
	if err := os.MkdirAll(tenants, 0o755); err != nil {
		return nil, err
	}
	// stack.yml deploys both demo tenants' functions; tenant1 gets the load.
	for _, t := range []string{scaleTenant, "tenant2"} {
		prof := ecdc.Profile(t, ecdc.SourceNames, "stream:\n  max_messages_per_window: 1000000\n  window: 5s\n")
		if err := os.WriteFile(filepath.Join(tenants, t+".yaml"), []byte(prof), 0o644); err != nil {
			return nil, err
		}
	}
	r := &ScaleRig{o: o}
	r.stack, err = localstack.Start(ctx, localstack.Config{
		DataDir: filepath.Join(dir, "data"), StackFile: filepath.Join(repo, "stack.yml"), TenantsDir: tenants,
		Progress: func(string, ...any) {},
	}, o.Log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.Close(context.WithoutCancel(ctx))
		}
	}()
	if r.gw, err = gateway.New(r.stack.Endpoints.Gateway, r.stack.Creds.GatewayUser, r.stack.Creds.GatewayPassword); err != nil {
		return nil, err
	}
	if r.nc, err = nats.Connect(r.stack.Endpoints.NATS); err != nil {
		return nil, err
	}
	if r.js, err = jetstream.New(r.nc); err != nil {
		return nil, err
	}
	if r.db, err = mongo.Connect(options.Client().ApplyURI(r.stack.Endpoints.MongoURI)); err != nil {
		return nil, err
	}
	return r, nil
}

// Close stops the platform.
func (r *ScaleRig) Close(ctx context.Context) {
	if r.db != nil {
		_ = r.db.Disconnect(ctx)
	}
	if r.nc != nil {
		r.nc.Close()
	}
	_ = r.stack.Stop(ctx)
}

const scaleFunction = scaleTenant + "-stream-ingest"

// Run offers the step load once, with the scaler firing or not, and
// measures how the replicas follow.
func (r *ScaleRig) Run(ctx context.Context, withScaler bool) (ScaleRun, error) {
	res := ScaleRun{Scaler: withScaler}
	if err := r.gw.Redeploy(ctx, "scaler", "", func(d *types.FunctionDeployment) {
		if withScaler {
			(*d.Annotations)[contract.AnnotationTopic] = contract.TopicCron
			(*d.Annotations)[contract.AnnotationSchedule] = "@every " + r.o.Every.String()
		} else {
			delete(*d.Annotations, contract.AnnotationTopic) // never fired
		}
		d.EnvVars["MYSIMBDP_SCALE_STABILIZATION"] = "5s"
	}); err != nil {
		return res, err
	}
	if err := r.gw.Redeploy(ctx, scaleFunction, "", func(d *types.FunctionDeployment) {
		(*d.Labels)[contract.LabelScaleMin] = "1"
		(*d.Labels)[contract.LabelScaleMax] = strconv.Itoa(r.o.Max)
		(*d.Labels)[contract.LabelScaleTarget] = strconv.Itoa(r.o.Target)
		(*d.Annotations)[contract.AnnotationBatchSize] = strconv.Itoa(r.o.BatchSize)
		(*d.Annotations)[contract.AnnotationMaxInflight] = "1"
	}); err != nil {
		return res, err
	}
	// Start from one replica and an idle consumer.
	if err := r.gw.Scale(ctx, scaleFunction, "", 1); err != nil {
		return res, err
	}
	if err := r.waitReplicas(ctx, 1, time.Minute); err != nil {
		return res, err
	}
	if withScaler {
		// The step starts once the scaler fires: the connector picks a new
		// schedule up at its next read of the function list.
		if err := r.waitScalerRuns(ctx, 2, time.Minute); err != nil {
			return res, err
		}
	}
	coll := r.db.Database(scaleTenant).Collection("covid_daily")
	before, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		return res, err
	}

	n := int(r.o.Rate * r.o.Duration.Seconds())
	res.Records = n
	from := r.next
	r.next += n
	step := time.Now()
	pubErr := make(chan error, 1)
	go func() { pubErr <- r.publishPaced(ctx, from, from+n, r.o.Rate) }()

	cons, err := r.js.Consumer(ctx, contract.TenantStream(scaleTenant), stream.ConsumerName(scaleFunction, "openfaas-fn"))
	if err != nil {
		return res, fmt.Errorf("the function's consumer: %w", err)
	}
	deadline := step.Add(r.o.Duration + 5*time.Minute)
	for {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("not drained within %s of the step", time.Since(step).Round(time.Second))
		}
		st, err := r.gw.Function(ctx, scaleFunction, "")
		if err != nil {
			return res, err
		}
		now := time.Since(step)
		if reps := int(st.Replicas); reps > res.Peak {
			res.Peak, res.ToPeak = reps, now
			if reps > 1 && res.FirstUp == 0 {
				res.FirstUp = now
			}
		}
		if info, err := cons.Info(ctx); err == nil {
			res.BacklogPeak = max(res.BacklogPeak, int64(info.NumPending)+int64(info.NumAckPending))
		}
		c, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil {
			return res, err
		}
		if c-before >= int64(n) {
			res.Drained = now
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return res, <-pubErr
}

// waitReplicas waits until the function reports want replicas.
func (r *ScaleRig) waitReplicas(ctx context.Context, want int, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		st, err := r.gw.Function(ctx, scaleFunction, "")
		if err == nil && int(st.Replicas) == want && int(st.AvailableReplicas) >= want {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: not %d replicas within %s", scaleFunction, want, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitScalerRuns waits until the scaler has been invoked n more times.
func (r *ScaleRig) waitScalerRuns(ctx context.Context, n int, d time.Duration) error {
	st, err := r.gw.Function(ctx, "scaler", "")
	if err != nil {
		return err
	}
	from, end := st.InvocationCount, time.Now().Add(d)
	for {
		if st, err := r.gw.Function(ctx, "scaler", ""); err == nil && st.InvocationCount >= from+float64(n) {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("the scaler was not invoked %d times within %s", n, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// publishPaced publishes rows [from, to) at rate records/s.
func (r *ScaleRig) publishPaced(ctx context.Context, from, to int, rate float64) error {
	start := time.Now()
	subject := "ingest." + scaleTenant + ".covid"
	for i := from; i < to; i++ {
		if wait := time.Until(start.Add(time.Duration(float64(i-from) / rate * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		msg := &nats.Msg{Subject: subject, Data: ecdc.JSON(i), Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, "scale-"+strconv.Itoa(i))
		if _, err := r.js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("publish record %d: %w", i, err)
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PrintScale prints the runs side by side.
func PrintScale(w io.Writer, o ScaleOptions, runs []ScaleRun) {
	fmt.Fprintf(w, "scaler step load: %.0f records/s for %s to %s (batch %d, max-inflight 1, scale.target %d, scale.max %d, scaler @every %s)\n",
		o.Rate, o.Duration, scaleFunction, o.BatchSize, o.Target, o.Max, o.Every)
	fmt.Fprintf(w, "  %-16s %14s %10s %10s %14s %12s\n", "run", "first up (s)", "peak", "to peak", "backlog peak", "drained (s)")
	for _, r := range runs {
		name := "without scaler"
		if r.Scaler {
			name = "with scaler"
		}
		up := "-"
		if r.FirstUp > 0 {
			up = fmt.Sprintf("%.1f", r.FirstUp.Seconds())
		}
		fmt.Fprintf(w, "  %-16s %14s %10d %9.1fs %14d %12.1f\n", name, up, r.Peak, r.ToPeak.Seconds(), r.BacklogPeak, r.Drained.Seconds())
	}
}
