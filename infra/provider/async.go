package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Publisher stores an asynchronous invocation durably: it returns only
// once the message is kept (a JetStream publish acknowledged), so that a
// 202 is never answered for a call that could be lost. callID lets the
// store drop a client's retry of a call it already holds.
// infra/connector/async.Publisher is the one on JetStream.
type Publisher interface {
	PublishAsync(ctx context.Context, subject, callID string, header map[string][]string, body []byte) error
}

// maxCallID bounds a client's X-Call-Id; it goes into headers and logs.
const maxCallID = 128

// MakeAsyncHandler accepts asynchronous invocations on POST
// /async-function/{name}[.{namespace}][/path], as OpenFaaS's gateway
// does: the request (method, path, query, headers, body up to
// Config.AsyncMaxBody) is stored through Config.Async for the connector
// to run, and the answer is 202 Accepted with X-Call-Id (the client's,
// or a new one) at once. An unknown function is a 404 at once; a request
// that could not be stored is a 503, never a 202.
func MakeAsyncHandler(p *Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fn, nameVar, ok := p.target(w, r)
		if !ok {
			return
		}
		if p.cfg.Async == nil {
			internalError(w, http.StatusServiceUnavailable, "asynchronous invocations are not enabled on this provider (no NATS)")
			return
		}
		if cb := r.Header.Get(contract.HeaderCallbackURL); cb != "" {
			if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				internalError(w, http.StatusBadRequest, "%s must be an absolute http(s) URL", contract.HeaderCallbackURL)
				return
			}
		}
		callID := r.Header.Get(contract.HeaderCallID)
		if len(callID) > maxCallID {
			internalError(w, http.StatusBadRequest, "%s is longer than %d bytes", contract.HeaderCallID, maxCallID)
			return
		}
		if callID == "" {
			callID = newCallID()
		}
		limit := p.cfg.AsyncMaxBody
		if r.ContentLength > limit {
			internalError(w, http.StatusRequestEntityTooLarge, "request body of %d bytes is over the %d bytes an asynchronous invocation may carry", r.ContentLength, limit)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				internalError(w, http.StatusRequestEntityTooLarge, "request body is over the %d bytes an asynchronous invocation may carry", limit)
				return
			}
			internalError(w, http.StatusBadRequest, "read request body: %v", err)
			return
		}

		header := forwardHeader(r)
		header.Del("Content-Length")
		header.Set(contract.HeaderCallID, callID)
		path := strings.TrimPrefix(r.URL.Path, "/async-function/"+nameVar)
		if path == "" {
			path = "/"
		}
		fn.mu.RLock()
		var tenant string
		if fn.spec.Labels != nil {
			tenant = (*fn.spec.Labels)[contract.LabelTenant]
		}
		fn.mu.RUnlock()
		call := contract.AsyncCall{Name: fn.name, Namespace: fn.namespace, Tenant: tenant,
			Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Header: header, Body: body}
		h, data := call.Message()
		ctx, cancel := context.WithTimeout(r.Context(), p.cfg.AsyncPublishTimeout)
		err = p.cfg.Async.PublishAsync(ctx, contract.AsyncSubject(fn.name, fn.namespace), callID, h, data)
		cancel()
		if err != nil {
			p.log.Warn("asynchronous invocation not stored; answered 503", "function", fn.metricName, "call_id", callID, "err", err)
			w.Header().Set("Retry-After", "1")
			internalError(w, http.StatusServiceUnavailable, "asynchronous invocation of %s not stored; try again: %v", fn.metricName, err)
			return
		}
		p.metrics.asyncAccepted.WithLabelValues(fn.metricName).Inc()
		w.Header().Set(contract.HeaderCallID, callID)
		w.WriteHeader(http.StatusAccepted)
	}
}

// newCallID is a random id in the UUID v4 form OpenFaaS's gateway gives.
func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
