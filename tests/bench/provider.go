package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/infra/build/fnbuild"
	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/local/freeport"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/provider"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
)

// ProviderRig is the echo function reachable two ways at once: through the
// local provider (/function/echo, one replica) and straight at a separate
// process of the same executable. Both paths cross loopback HTTP to the
// same code, so their difference is what the provider adds.
type ProviderRig struct {
	Gateway    *gateway.Client
	ProxiedURL string
	DirectURL  string

	direct   *exec.Cmd
	exited   chan struct{}
	server   *http.Server
	provider *provider.Provider
}

// StartProviderRig builds the repo's echo function into dir and starts the
// provider and the direct process. repo is the folder with stack.yml.
func StartProviderRig(ctx context.Context, repo, dir string) (_ *ProviderRig, err error) {
	st, err := stack.Load(filepath.Join(repo, "stack.yml"))
	if err != nil {
		return nil, err
	}
	b := &fnbuild.Builder{Stack: st, ImagesDir: filepath.Join(dir, "images"), BuildDir: filepath.Join(dir, "build")}
	exe, err := b.Build(ctx, "echo")
	if err != nil {
		return nil, err
	}
	creds, err := localstack.LoadOrCreateCredentials(dir)
	if err != nil {
		return nil, err
	}
	r := &ProviderRig{exited: make(chan struct{})}
	defer func() {
		if err != nil {
			r.Close(context.Background())
		}
	}()

	r.provider, err = provider.New(ctx, provider.Config{
		DataDir: filepath.Join(dir, "provider"), ImagesDir: filepath.Join(dir, "images"),
		SecretMountPath: localstack.GatewaySecretsDir(dir),
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.server = &http.Server{Handler: r.provider.Handler()}
	go func() { _ = r.server.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	r.ProxiedURL = base + "/function/echo"
	r.Gateway, err = gateway.New(base, creds.GatewayUser, creds.GatewayPassword)
	if err != nil {
		return nil, err
	}
	d, err := st.Deployment("echo")
	if err != nil {
		return nil, err
	}
	// One replica on each path, so neither gets more processes than the other.
	(*d.Labels)["com.openfaas.scale.min"] = "1"
	if err := r.Gateway.Deploy(ctx, d); err != nil {
		return nil, err
	}

	port := freeport.MustGet()
	r.direct = exec.Command(exe)
	r.direct.Env = append(os.Environ(), "port="+strconv.Itoa(port), "host=127.0.0.1")
	if err := r.direct.Start(); err != nil {
		return nil, fmt.Errorf("start direct echo: %w", err)
	}
	go func() { _ = r.direct.Wait(); close(r.exited) }()
	r.DirectURL = "http://127.0.0.1:" + strconv.Itoa(port) + "/"

	for _, u := range []string{r.DirectURL, r.ProxiedURL} {
		if err := waitAnswer(ctx, u, time.Minute); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func waitAnswer(ctx context.Context, url string, within time.Duration) error {
	c := NewClient(1)
	deadline := time.Now().Add(within)
	for {
		err := post(ctx, c, url, []byte("ping"))
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer within %s: %w", url, within, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ColdStart scales echo to zero, waits until no replica is left, then
// times one invocation: the time from a request at zero replicas to its
// answer.
func (r *ProviderRig) ColdStart(ctx context.Context) (time.Duration, error) {
	if err := r.Gateway.Scale(ctx, "echo", "", 0); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := r.Gateway.Function(ctx, "echo", "")
		if err != nil {
			return 0, err
		}
		if st.Replicas == 0 && st.AvailableReplicas == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, errors.New("echo did not scale to zero within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c := NewClient(1)
	start := time.Now()
	if err := post(ctx, c, r.ProxiedURL, []byte("wake")); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// Close stops everything the rig started.
func (r *ProviderRig) Close(ctx context.Context) {
	if r.direct != nil && r.direct.Process != nil {
		_ = r.direct.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			_ = r.direct.Process.Kill()
			<-r.exited
		}
	}
	if r.server != nil {
		_ = r.server.Shutdown(ctx)
	}
	if r.provider != nil {
		_ = r.provider.Close(ctx)
	}
}

// ProviderRound is one round of the provider benchmark: both paths
// measured one right after the other.
type ProviderRound struct {
	Direct, Proxied       Latency
	DirectRPS, ProxiedRPS float64
}

// AddedP50 is what the provider added to the median latency this round.
func (r ProviderRound) AddedP50() time.Duration { return r.Proxied.P50 - r.Direct.P50 }

// ProviderReport is one run of the provider benchmark.
type ProviderReport struct {
	Rounds  []ProviderRound
	Workers int
	// LoadProcess says the load generator ran in a process of its own
	// (else in the provider's, competing with it for the scheduler and
	// the garbage collector).
	LoadProcess bool
	ColdStarts  Latency
}

// LoadFunc runs the rounds of requests against both paths.
type LoadFunc func(ctx context.Context, directURL, proxiedURL string, rounds, perRound, workers int) ([]ProviderRound, error)

// RunProvider measures both paths in rounds through load (RunProviderLoad
// in this process, or a process of its own) and then cold starts.
func RunProvider(ctx context.Context, r *ProviderRig, load LoadFunc, rounds, perRound, workers, coldStarts int) (ProviderReport, error) {
	rep := ProviderReport{Workers: workers}
	var err error
	if rep.Rounds, err = load(ctx, r.DirectURL, r.ProxiedURL, rounds, perRound, workers); err != nil {
		return rep, err
	}
	var cold []time.Duration
	for range coldStarts {
		d, err := r.ColdStart(ctx)
		if err != nil {
			return rep, err
		}
		cold = append(cold, d)
	}
	rep.ColdStarts = summarize(cold)
	return rep, nil
}

// RunProviderLoad is the load generator: both paths in alternating rounds
// (so that drift in the machine's load hits both alike), each round
// perRound sequential requests on one kept-alive connection (latency) and
// then perRound*2 from workers clients (throughput).
func RunProviderLoad(ctx context.Context, directURL, proxiedURL string, rounds, perRound, workers int) ([]ProviderRound, error) {
	body := []byte(strings.Repeat("x", 256))
	seq := NewClient(1)
	par := NewClient(workers)
	// Warm both paths' connections and code.
	for _, u := range []string{directURL, proxiedURL} {
		if _, err := Sequential(ctx, seq, u, body, 200); err != nil {
			return nil, err
		}
	}
	var out []ProviderRound
	for range rounds {
		var r ProviderRound
		for _, path := range []struct {
			url string
			lat *Latency
			rps *float64
		}{{directURL, &r.Direct, &r.DirectRPS}, {proxiedURL, &r.Proxied, &r.ProxiedRPS}} {
			d, err := sequentialRaw(ctx, seq, path.url, body, perRound)
			if err != nil {
				return nil, err
			}
			*path.lat = summarize(d)
			if *path.rps, err = Throughput(ctx, par, path.url, body, perRound*2, workers); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func sequentialRaw(ctx context.Context, c *http.Client, url string, body []byte, n int) ([]time.Duration, error) {
	d := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if err := post(ctx, c, url, body); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// Print writes the report as a table with the ratios the goals are set in.
func (p ProviderReport) Print(w io.Writer) {
	us := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
	where := "in the provider's process"
	if p.LoadProcess {
		where = "in a process of its own"
	}
	if len(p.Rounds) > 0 {
		fmt.Fprintf(w, "invoke echo (256 B body), load generator %s: %d rounds of %d sequential requests per path (latency), then %d workers (throughput)\n",
			where, len(p.Rounds), p.Rounds[0].Direct.N, p.Workers)
		fmt.Fprintf(w, "  %5s %-20s %10s %10s %10s %12s %12s\n", "round", "path", "p50", "p90", "p99", "req/s", "added p50")
		met := 0
		for i, r := range p.Rounds {
			fmt.Fprintf(w, "  %5d %-20s %10s %10s %10s %12.0f\n", i+1, "direct to replica", us(r.Direct.P50), us(r.Direct.P90), us(r.Direct.P99), r.DirectRPS)
			fmt.Fprintf(w, "  %5s %-20s %10s %10s %10s %12.0f %12s\n", "", "via provider", us(r.Proxied.P50), us(r.Proxied.P90), us(r.Proxied.P99), r.ProxiedRPS, us(r.AddedP50()))
			if r.AddedP50() < 100*time.Microsecond {
				met++
			}
		}
		added := time.Duration(medianOf(p.Rounds, func(r ProviderRound) float64 { return float64(r.AddedP50()) }))
		p99 := time.Duration(medianOf(p.Rounds, func(r ProviderRound) float64 { return float64(r.Proxied.P99 - r.Direct.P99) }))
		ratio := medianOf(p.Rounds, func(r ProviderRound) float64 { return r.ProxiedRPS / r.DirectRPS })
		verdict := "met"
		if met < len(p.Rounds) {
			verdict = fmt.Sprintf("MISSED in %d of %d rounds", len(p.Rounds)-met, len(p.Rounds))
		}
		fmt.Fprintf(w, "  added by the provider (median of the rounds): p50 %s, p99 %s; throughput ratio provider/direct %.2f\n", us(added), us(p99), ratio)
		fmt.Fprintf(w, "  goal added p50 < 100 µs in every round: %s\n", verdict)
	}
	if p.ColdStarts.N > 0 {
		fmt.Fprintf(w, "cold start (0 replicas -> first answer) over %d runs: p50 %.1f ms, p90 %.1f ms, max %.1f ms\n",
			p.ColdStarts.N, float64(p.ColdStarts.P50)/1e6, float64(p.ColdStarts.P90)/1e6, float64(p.ColdStarts.P99)/1e6)
	}
}
