// Package checker calls a tenant's own quality checker: a function of the
// tenant, named in a dataset's profile (quality_checker.function), that
// takes rows of a file and answers with rule results in the shape of the
// platform's own rules (contract.CheckRequest, contract.CheckResponse).
// The platform's batch app uses it; it invokes the checker through the
// gateway like the connector invokes any function: signed with the
// checker's own invocation key (shared/invokesig), which `mysimbdp tenant
// apply` mounts in the tenant's batch app and no other tenant's, so that
// the checker's runtime refuses anyone else.
//
// Errors say what to do next: ErrUnavailable (the checker or gateway is
// busy, down or slow: try again later), ErrBadAnswer (the checker refused
// the call or answered outside the contract: trying again will not help),
// ErrTooLarge (the request is over the contract's bounds: send fewer
// rows).
package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Errors Check wraps.
var (
	ErrUnavailable = errors.New("checker unavailable, try again later")
	ErrBadAnswer   = errors.New("checker answered outside the contract")
	ErrTooLarge    = errors.New("check request too large")
)

// DefaultTimeout bounds one call when Config.Timeout is zero.
const DefaultTimeout = time.Minute

// Config is how to reach one checker.
type Config struct {
	// GatewayURL is the gateway as the caller reaches it
	// (contract.EnvGatewayURL), e.g. http://gateway.openfaas:8080.
	GatewayURL string
	// Function is the checker function's name.
	Function string
	// Key is the checker's invocation key (the secret
	// contract.InvokeKeySecret(Function) holds); empty sends the calls
	// unsigned, which a checker given its key refuses.
	Key []byte
	// Timeout bounds one call, answer included (default DefaultTimeout).
	Timeout time.Duration
	// CAFile is the platform's CA when the gateway serves TLS
	// (contract.Env.CAFile); empty: the system's roots.
	CAFile string
}

// ConfigFromEnv is the configuration of checker function fn for a
// function given its key as `mysimbdp tenant apply` gives it: fn listed
// in contract.EnvCheckerFunctions and its key in the secret
// contract.InvokeKeySecret(fn); the gateway at contract.EnvGatewayURL
// (default the one inside an OpenFaaS cluster).
func ConfigFromEnv(env contract.Env, fn string) (Config, error) {
	if !slices.Contains(env.CheckerFunctions, fn) {
		return Config{}, fmt.Errorf("checker %s: this function was given no key to invoke it (%s lists %q); apply the tenant's profile again", fn, contract.EnvCheckerFunctions, strings.Join(env.CheckerFunctions, ","))
	}
	name := contract.InvokeKeySecret(fn)
	raw, _, err := secret.Read(env.SecretsDir, name)
	if err != nil {
		return Config{}, fmt.Errorf("checker %s: read its invocation key: %w", fn, err)
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		return Config{}, fmt.Errorf("checker %s: the secret %s is empty", fn, name)
	}
	gw := contract.DefaultClusterGatewayURL
	if env.IsSet(contract.EnvGatewayURL) {
		gw = env.GatewayURL
	}
	return Config{GatewayURL: gw, Function: fn, Key: key, CAFile: env.CAFile()}, nil
}

// Client calls one checker function. It is safe for concurrent use.
type Client struct {
	cfg  Config
	url  string
	http *http.Client
	now  func() time.Time
}

// New returns a client of the checker cfg names.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.GatewayURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("checker %s: gateway URL %q: want http(s)://host:port", cfg.Function, cfg.GatewayURL)
	}
	if cfg.Function == "" || url.PathEscape(cfg.Function) != cfg.Function || strings.ContainsAny(cfg.Function, "/.") {
		return nil, fmt.Errorf("checker %q: not a function name", cfg.Function)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 90 * time.Second}
	if err := trust.HTTP(tr, cfg.CAFile); err != nil {
		return nil, fmt.Errorf("checker %s: %w", cfg.Function, err)
	}
	u.Path += "/function/" + cfg.Function
	return &Client{cfg: cfg, url: u.String(), http: &http.Client{Transport: tr}, now: time.Now}, nil
}

// Function is the checker's name.
func (c *Client) Function() string { return c.cfg.Function }

// Check sends req to the checker and returns its validated answer. The
// error wraps ErrUnavailable (429, 502, 503, 504, no connection, the
// call's timeout), ErrBadAnswer (any other non-200, an answer that is not
// a CheckResponse, over contract.CheckMaxAnswerBytes or not valid for
// req) or ErrTooLarge (req over the contract's bounds); a cancelled ctx
// is ctx's error.
func (c *Client) Check(ctx context.Context, req contract.CheckRequest) (contract.CheckResponse, error) {
	what := fmt.Sprintf("check %d rows of %s with %s", len(req.Rows), req.Key, c.cfg.Function)
	if len(req.Rows) > contract.CheckMaxRows {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %d rows, the contract takes %d at most", what, ErrTooLarge, len(req.Rows), contract.CheckMaxRows)
	}
	if err := req.Validate(); err != nil {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return contract.CheckResponse{}, fmt.Errorf("%s: encode: %w", what, err)
	}
	if len(body) > contract.CheckMaxRequestBytes {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %d bytes, the contract takes %d at most", what, ErrTooLarge, len(body), contract.CheckMaxRequestBytes)
	}

	cctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(cctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w", what, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(contract.HeaderTenant, req.Tenant)
	if len(c.cfg.Key) > 0 {
		// The checker sees its root path: the gateway strips
		// /function/<name>.
		invokesig.Sign(hreq.Header, c.cfg.Key, http.MethodPost, "/", "", body, c.now())
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return contract.CheckResponse{}, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %w", what, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, contract.CheckMaxAnswerBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return contract.CheckResponse{}, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return contract.CheckResponse{}, fmt.Errorf("%s: read the answer: %w: %w", what, ErrUnavailable, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %s", what, ErrUnavailable, status(resp, raw))
	default:
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %s", what, ErrBadAnswer, status(resp, raw))
	}
	if len(raw) > contract.CheckMaxAnswerBytes {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: the answer is over %d bytes", what, ErrBadAnswer, contract.CheckMaxAnswerBytes)
	}
	ans, err := decode(raw)
	if err != nil {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %w", what, ErrBadAnswer, err)
	}
	if err := ans.Validate(req); err != nil {
		return contract.CheckResponse{}, fmt.Errorf("%s: %w: %w", what, ErrBadAnswer, err)
	}
	return ans, nil
}

// decode reads one CheckResponse, strictly: an unknown field is more
// likely a misspelt one (maxShare) than something to ignore.
func decode(raw []byte) (contract.CheckResponse, error) {
	var ans contract.CheckResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ans); err != nil {
		return contract.CheckResponse{}, fmt.Errorf("not a check response: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return contract.CheckResponse{}, errors.New("not a check response: more after the JSON object")
	}
	return ans, nil
}

// status renders an answer that is not a 200 for an error: its status,
// who made it when the platform did, and the start of its body.
func status(resp *http.Response, body []byte) string {
	s := resp.Status
	if o := resp.Header.Get(contract.HeaderOrigin); o != "" {
		s += " (from " + o + ")"
	}
	msg := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(msg) > 256 {
		cut := 256
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}
