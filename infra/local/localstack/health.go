package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/mysimbdp/mysimbdp/infra/local/supervise"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/trust"
	"github.com/mysimbdp/mysimbdp/shared/trust/mongotrust"
)

// Names of the parts Check reports besides PartMinIO and PartConnector.
const (
	PartPlatform = "platform"
	PartNATS     = "nats"
	PartMongoDB  = "mongodb"
	PartGateway  = "gateway"
)

// PartHealth is one part's health as Check saw it.
type PartHealth struct {
	Part string `json:"part"`
	Up   bool   `json:"up"`
	// Detail says where the part answers and what it holds, or why it
	// is counted down. It never holds a secret.
	Detail string `json:"detail"`
	// Supervisor is what the stack's supervisor knows of a part it runs
	// itself (restarts, last exit), from <data>/status.json.
	Supervisor *supervise.Status `json:"supervisor,omitempty"`
}

// Health is every part's health.
type Health struct {
	DataDir string       `json:"data_dir"`
	Parts   []PartHealth `json:"parts"`
}

// Down names the parts that are down.
func (h Health) Down() []string {
	var down []string
	for _, p := range h.Parts {
		if !p.Up {
			down = append(down, p.Part)
		}
	}
	return down
}

// Part returns the named part's health.
func (h Health) Part(name string) (PartHealth, bool) {
	for _, p := range h.Parts {
		if p.Part == name {
			return p, true
		}
	}
	return PartHealth{}, false
}

// Check asks every part of the stack running on dataDir whether it
// answers, each within timeout, using the endpoints and credentials the
// stack keeps in its data folder.
func Check(ctx context.Context, dataDir string, timeout time.Duration) Health {
	h := Health{DataDir: dataDir}
	every := []string{PartPlatform, PartNATS, PartMongoDB, PartMinIO, PartGateway, PartConnector}
	allDown := func(why string) Health {
		for _, p := range every {
			h.Parts = append(h.Parts, PartHealth{Part: p, Detail: why})
		}
		return h
	}
	e, err := ReadEndpoints(dataDir)
	if err != nil {
		return allDown("mysimbdp up is not running on " + dataDir + " (no endpoints.json)")
	}
	ps, err := ReadPartsStatus(dataDir)
	switch {
	case err != nil:
		return allDown("mysimbdp up on " + dataDir + " wrote no status.json (still starting, or an older version)")
	case !alive(ps.Pid):
		return allDown(fmt.Sprintf("mysimbdp up (pid %d) on %s is gone; its endpoints are stale (killed?)", ps.Pid, dataDir))
	}
	r := redactor(e)
	h.Parts = append(h.Parts, PartHealth{Part: PartPlatform, Up: true, Detail: fmt.Sprintf("mysimbdp up, pid %d, data in %s", ps.Pid, dataDir)})

	probe := func(part string, f func(ctx context.Context) (string, error)) PartHealth {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		detail, err := f(pctx)
		if err != nil {
			return PartHealth{Part: part, Detail: r.Replace(err.Error())}
		}
		return PartHealth{Part: part, Up: true, Detail: r.Replace(detail)}
	}
	var js jetstream.JetStream
	h.Parts = append(h.Parts, probe(PartNATS, func(ctx context.Context) (string, error) {
		nc, err := nats.Connect(e.NATS, append(trust.NATS(e.CAFile), nats.Name("mysimbdp status"), nats.Timeout(timeout))...)
		if err != nil {
			return "", fmt.Errorf("%s: connect: %w", hostOf(e.NATS), err)
		}
		js, err = jetstream.New(nc)
		if err != nil {
			nc.Close()
			return "", fmt.Errorf("%s: JetStream: %w", hostOf(e.NATS), err)
		}
		info, err := js.AccountInfo(ctx)
		if err != nil {
			nc.Close()
			js = nil
			return "", fmt.Errorf("%s: JetStream: %w", hostOf(e.NATS), err)
		}
		return fmt.Sprintf("%s, JetStream with %d streams", hostOf(e.NATS), info.Streams), nil
	}))
	if js != nil {
		defer js.Conn().Close()
	}
	h.Parts = append(h.Parts, probe(PartMongoDB, func(ctx context.Context) (string, error) {
		mopts, err := mongotrust.Options(options.Client().ApplyURI(e.MongoURI).SetServerSelectionTimeout(timeout), e.CAFile)
		if err != nil {
			return "", err
		}
		c, err := mongo.Connect(mopts)
		if err != nil {
			return "", fmt.Errorf("%s: %w", hostOf(e.MongoURI), err)
		}
		defer c.Disconnect(context.WithoutCancel(ctx))
		start := time.Now()
		if err := c.Ping(ctx, readpref.Primary()); err != nil {
			return "", fmt.Errorf("%s: ping: %w", hostOf(e.MongoURI), err)
		}
		return fmt.Sprintf("%s, ping %s", hostOf(e.MongoURI), time.Since(start).Round(time.Millisecond)), nil
	}))
	h.Parts = append(h.Parts, withSupervisor(probe(PartMinIO, func(ctx context.Context) (string, error) {
		// The cluster check, not /live: it fails until MinIO can serve S3.
		if err := httpOK(ctx, e.MinIOURL()+"/minio/health/cluster", e.CAFile, timeout); err != nil {
			return "", fmt.Errorf("%s: %w", e.MinIO, err)
		}
		return e.MinIO, nil
	}), supervised(ps, PartMinIO)))
	h.Parts = append(h.Parts, probe(PartGateway, func(ctx context.Context) (string, error) {
		if err := httpOK(ctx, e.Gateway+"/healthz", e.CAFile, timeout); err != nil {
			return "", err
		}
		gw, err := gateway.NewFromSecrets(e.Gateway, e.GatewaySecret)
		if err != nil {
			return "", fmt.Errorf("%s: credentials: %w", e.Gateway, err)
		}
		if err := gw.TrustCA(e.CAFile); err != nil {
			return "", err
		}
		fns, err := gw.Functions(ctx, "")
		if err != nil {
			return "", fmt.Errorf("%s: list functions: %w", e.Gateway, err)
		}
		ready, wanted := 0, 0
		for _, f := range fns {
			if f.Replicas > 0 {
				wanted++
				if f.AvailableReplicas >= f.Replicas {
					ready++
				}
			}
		}
		return fmt.Sprintf("%s, %d functions, %d of the %d scaled up have every replica ready", e.Gateway, len(fns), ready, wanted), nil
	}))
	h.Parts = append(h.Parts, probe(PartConnector, func(ctx context.Context) (string, error) {
		return connectorHealth(ctx, e, js, supervised(ps, PartConnector), timeout)
	}))
	h.Parts[len(h.Parts)-1].Supervisor = supervised(ps, PartConnector)
	return h
}

// connectorHealth: the connector `up` runs in process is up while its Run
// has not returned and its metrics answer; one run on its own
// (--connector=false) is up while it pulls S3 events.
func connectorHealth(ctx context.Context, e Endpoints, js jetstream.JetStream, st *supervise.Status, timeout time.Duration) (string, error) {
	backlog := ""
	external := false
	if js != nil {
		if c, err := js.Consumer(ctx, contract.S3EventsStream, contract.S3EventsDurable); err == nil {
			if ci, err := c.Info(ctx); err == nil {
				backlog = fmt.Sprintf("; S3 events: %d waiting, %d in progress", ci.NumPending, ci.NumAckPending)
				external = ci.NumWaiting > 0
			}
		}
	}
	switch {
	case st == nil && external:
		return "run on its own (--connector=false), pulling S3 events" + backlog, nil
	case st == nil:
		return "", errors.New("not run by mysimbdp up (--connector=false) and no connector is pulling S3 events")
	case st.State != supervise.StateRunning:
		return "", fmt.Errorf("stopped on its own at %s: %s", st.LastExitAt.Format(time.TimeOnly), st.LastExit)
	}
	if err := httpOK(ctx, e.Gateway+"/connector/metrics", e.CAFile, timeout); err != nil {
		return "", fmt.Errorf("running, but its metrics do not answer: %w", err)
	}
	return "running in mysimbdp up since " + st.Since.Format(time.TimeOnly) + backlog, nil
}

// withSupervisor adds what the supervisor knows to a part's probe: a
// part being restarted is down, whatever answers on its port.
func withSupervisor(p PartHealth, st *supervise.Status) PartHealth {
	if st == nil {
		return p
	}
	p.Supervisor = st
	var notes []string
	if st.Restarts > 0 {
		notes = append(notes, fmt.Sprintf("restarts: %d, last exit %q at %s", st.Restarts, st.LastExit, st.LastExitAt.Format(time.TimeOnly)))
	}
	switch st.State {
	case supervise.StateRunning:
		notes = append([]string{fmt.Sprintf("pid %d", st.Pid)}, notes...)
	case supervise.StateRestarting:
		p.Up = false
		why := fmt.Sprintf("restarting after %q at %s, next try at %s", st.LastExit, st.LastExitAt.Format(time.TimeOnly), st.NextRestartAt.Format(time.TimeOnly))
		if st.LastError != "" {
			why += "; last try: " + st.LastError
		}
		return PartHealth{Part: p.Part, Detail: why, Supervisor: st}
	default:
		p.Up = false
		notes = append(notes, "supervisor "+string(st.State))
	}
	p.Detail += " (" + strings.Join(notes, "; ") + ")"
	return p
}

func supervised(ps PartsStatus, part string) *supervise.Status {
	for _, st := range ps.Parts {
		if st.Part == part {
			return &st
		}
	}
	return nil
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// userinfo matches the credentials part of a URL.
var userinfo = regexp.MustCompile(`://[^/@\s]+@`)

// redactor blanks the stack's secrets out of what a probe says: URLs'
// credentials and the passwords themselves, should an error quote them.
func redactor(e Endpoints) *strings.Replacer {
	var pairs []string
	for _, raw := range []string{e.NATS, e.MongoURI} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				pairs = append(pairs, pw, "***")
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(e.GatewaySecret, contract.SecretGatewayPassword)); err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			pairs = append(pairs, pw, "***")
		}
	}
	return strings.NewReplacer(pairs...)
}

// hostOf is a URL's host:port, without its credentials.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return userinfo.ReplaceAllString(raw, "://***@")
	}
	return u.Scheme + "://" + u.Host
}

func httpOK(ctx context.Context, url, caFile string, timeout time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if err := trust.HTTP(tr, caFile); err != nil {
		return err
	}
	c := &http.Client{Timeout: timeout, Transport: tr}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
