package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/mux"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// internalHeader marks answers made by the provider rather than the
// function, as faas-provider's proxy does.
const internalHeader = "X-OpenFaaS-Internal"

// target is the function a /function or /async-function request names
// ({name}[.{namespace}]), and that name as written; when there is none to
// call it answers 404, or 503 while the provider shuts down, and ok is
// false.
func (p *Provider) target(w http.ResponseWriter, r *http.Request) (fn *function, nameVar string, ok bool) {
	nameVar = mux.Vars(r)["name"]
	fn, ok = p.targetNamed(w, nameVar)
	return fn, nameVar, ok
}

// targetNamed is target for a {name}[.{namespace}] already read.
func (p *Provider) targetNamed(w http.ResponseWriter, nameVar string) (fn *function, ok bool) {
	name, ns := p.splitName(nameVar)
	if fn = p.lookup(name, ns); fn == nil {
		internalError(w, http.StatusNotFound, "function %s not found in namespace %s", name, ns)
		return nil, false
	}
	if p.closed.Load() {
		internalError(w, http.StatusServiceUnavailable, "provider is shutting down")
		return nil, false
	}
	return fn, true
}

// MakeProxyHandler invokes functions on /function/{name}[.{namespace}][/path]
// with any method. It picks the ready replica with the fewest requests in
// flight, streams the request and response bodies without buffering them,
// and, when the function has no ready replica, scales it from zero and
// holds the request until a replica is ready (bounded by ColdStartTimeout).
func MakeProxyHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { p.proxy(w, r, mux.Vars(r)["name"]) }
}

// proxy invokes the function nameVar ({name}[.{namespace}]) with r.
func (p *Provider) proxy(w http.ResponseWriter, r *http.Request, nameVar string) {
	fn, ok := p.targetNamed(w, nameVar)
	if !ok {
		return
	}
	fn.started.Inc()
	fn.inflight.Inc()
	start := time.Now()
	code := p.invoke(w, r, fn, "/function/"+nameVar)
	fn.inflight.Dec()
	fn.invocations.Add(1)
	c := strconv.Itoa(code)
	p.metrics.invocations.WithLabelValues(fn.metricName, c).Inc()
	p.metrics.seconds.WithLabelValues(fn.metricName, c).Observe(time.Since(start).Seconds())
}

// splitName reads a route's {name}: function names are DNS labels, so
// the first dot splits off the namespace, as in the gateway's
// name.namespace form.
func (p *Provider) splitName(nameVar string) (name, namespace string) {
	if i := strings.IndexByte(nameVar, '.'); i >= 0 {
		return nameVar[:i], nameVar[i+1:]
	}
	return nameVar, p.cfg.DefaultNamespace
}

// internalError answers for the provider itself; contract.HeaderOrigin
// lets the connector tell, say, the provider's cold-start 503 from a
// function's own 503.
func internalError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set(internalHeader, "proxy")
	w.Header().Set(contract.HeaderOrigin, contract.OriginProvider)
	http.Error(w, fmt.Sprintf(format, args...), code)
}

// invoke forwards one request and returns the status the client got.
func (p *Provider) invoke(w http.ResponseWriter, r *http.Request, fn *function, prefix string) int {
	ctx := r.Context()
	target := url.URL{
		Scheme:   "http",
		Path:     strings.TrimPrefix(r.URL.Path, prefix),
		RawPath:  strings.TrimPrefix(r.URL.RawPath, prefix),
		RawQuery: r.URL.RawQuery,
	}
	if target.Path == "" {
		target.Path = "/"
	}
	header := forwardHeader(r)

	for attempt := 0; ; attempt++ {
		rep, err := fn.acquire(ctx, p.cfg.ColdStartTimeout)
		if err != nil {
			return acquireError(w, fn, err, p.cfg.ColdStartTimeout)
		}
		addr := *rep.addr.Load()
		target.Host = addr
		// A replica stopped under the request (a forced scale-down, a
		// drain bound passed) cancels it, so the caller hears at once.
		octx, ocancel := context.WithCancel(ctx)
		unwatch := context.AfterFunc(rep.abortCtx, ocancel)
		out := (&http.Request{
			Method:        r.Method,
			URL:           &target,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        header,
			Body:          r.Body,
			ContentLength: r.ContentLength,
			Host:          addr,
		}).WithContext(octx)
		if r.ContentLength == 0 {
			out.Body = http.NoBody
		}
		var resp *http.Response
		if syncEligible(r) {
			resp, err = p.roundTripSync(octx, rep, addr, out)
		} else {
			resp, err = p.transport.RoundTrip(out)
		}
		if err != nil {
			unwatch()
			ocancel()
			rep.inflight.Add(-1)
			// A replica that died after it was picked refused the
			// connection before any byte of the request was sent; a
			// bodiless request can safely go to another replica.
			if attempt < 2 && out.Body == http.NoBody && errors.Is(err, syscall.ECONNREFUSED) && ctx.Err() == nil {
				rep.ready.Store(false)
				continue
			}
			if ctx.Err() != nil {
				// The client went away; nobody reads this answer.
				return 499
			}
			if rep.abortCtx.Err() != nil {
				// Not the function's failure: the provider stopped it.
				// A 503 of ours tells the caller to try again, not to
				// spend an attempt.
				w.Header().Set("Retry-After", "1")
				internalError(w, http.StatusServiceUnavailable, "function %s.%s: replica %s was stopped while the request was in flight; try again",
					fn.name, fn.namespace, rep.id)
				return http.StatusServiceUnavailable
			}
			internalError(w, http.StatusBadGateway, "function %s.%s: replica %s did not answer: %v", fn.name, fn.namespace, rep.id, err)
			return http.StatusBadGateway
		}
		p.copyResponse(w, resp)
		unwatch()
		ocancel()
		rep.inflight.Add(-1)
		return resp.StatusCode
	}
}

func acquireError(w http.ResponseWriter, fn *function, err error, timeout time.Duration) int {
	switch {
	case errors.Is(err, errFunctionGone):
		internalError(w, http.StatusNotFound, "function %s not found in namespace %s (it was deleted)", fn.name, fn.namespace)
		return http.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 499
	default:
		internalError(w, http.StatusServiceUnavailable,
			"function %s.%s has no ready replica after waiting %s (cold start timeout); see GET /system/logs?name=%s&namespace=%s",
			fn.name, fn.namespace, timeout, fn.name, fn.namespace)
		return http.StatusServiceUnavailable
	}
}

// copyResponse streams the replica's answer to the client. Bodies of
// unknown length (chunked: SSE, NDJSON, long ingestion progress) are
// flushed after every read so they arrive as the function writes them.
func (p *Provider) copyResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	dst := w.Header()
	for k, v := range resp.Header {
		if !hopByHop(k) {
			dst[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	stream := resp.ContentLength < 0 && flusher != nil
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if stream {
				flusher.Flush()
			}
		}
		if err != nil {
			// io.EOF is the normal end; any other error cut the body
			// short and the client sees it truncated, as from the replica.
			return
		}
	}
}

// forwardHeader copies the client's headers minus hop-by-hop ones and
// adds X-Forwarded-For/-Host, as the gateway does.
func forwardHeader(r *http.Request) http.Header {
	h := make(http.Header, len(r.Header)+2)
	for k, v := range r.Header {
		if !hopByHop(k) {
			h[k] = v
		}
	}
	if c := r.Header.Get("Connection"); c != "" {
		for _, f := range strings.Split(c, ",") {
			h.Del(strings.TrimSpace(f))
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := r.Header["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	if h.Get("X-Forwarded-Host") == "" && r.Host != "" {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	return h
}

// hopByHop reports the headers that describe one connection, not the
// message, and so must not be forwarded (RFC 9110 section 7.6.1).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}
