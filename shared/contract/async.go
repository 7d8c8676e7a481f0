package contract

import (
	"errors"
	"net/http"
	"strings"
)

// AsyncCall is an asynchronous invocation as the gateway keeps it in
// AsyncStream until the connector runs it: the message's data is the
// request body, unchanged, and its headers are the request's own headers
// (HeaderCallID and, if given, HeaderCallbackURL among them) plus the
// AsyncHeader* ones, which say what else the gateway knew.
type AsyncCall struct {
	// Name and Namespace are the function's; Tenant is its tenant label
	// ("" when it has none), where its dead letter goes.
	Name, Namespace, Tenant string
	// Method, Path (after /async-function/<name>, "/" at least) and
	// RawQuery are the request's.
	Method, Path, RawQuery string
	// Header holds the request's headers worth passing on.
	Header http.Header
	Body   []byte
}

// CallID is the call's id, as the gateway answered it.
func (c AsyncCall) CallID() string { return c.Header.Get(HeaderCallID) }

// CallbackURL is where the answer goes, "" for nowhere.
func (c AsyncCall) CallbackURL() string { return c.Header.Get(HeaderCallbackURL) }

// Message is c as a NATS message's headers and data.
func (c AsyncCall) Message() (header map[string][]string, data []byte) {
	h := make(map[string][]string, len(c.Header)+6)
	for k, v := range c.Header {
		if !strings.HasPrefix(http.CanonicalHeaderKey(k), AsyncHeaderPrefix) {
			h[k] = v
		}
	}
	h[AsyncHeaderMethod] = []string{c.Method}
	h[AsyncHeaderPath] = []string{c.Path}
	h[AsyncHeaderQuery] = []string{c.RawQuery}
	h[AsyncHeaderFunction] = []string{c.Name}
	h[AsyncHeaderNamespace] = []string{c.Namespace}
	h[AsyncHeaderTenant] = []string{c.Tenant}
	return h, c.Body
}

// AsyncCallOf reads a message that Message made.
func AsyncCallOf(header map[string][]string, data []byte) (AsyncCall, error) {
	first := func(k string) string {
		if v := header[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	c := AsyncCall{
		Name: first(AsyncHeaderFunction), Namespace: first(AsyncHeaderNamespace), Tenant: first(AsyncHeaderTenant),
		Method: first(AsyncHeaderMethod), Path: first(AsyncHeaderPath), RawQuery: first(AsyncHeaderQuery),
		Header: make(http.Header, len(header)), Body: data,
	}
	for k, v := range header {
		// Nats-* are the server's and the publisher's own headers.
		if !strings.HasPrefix(k, AsyncHeaderPrefix) && !strings.HasPrefix(k, "Nats-") {
			c.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	if c.Name == "" || c.Method == "" {
		return c, errors.New("asynchronous call without " + AsyncHeaderFunction + " or " + AsyncHeaderMethod)
	}
	if c.Path == "" {
		c.Path = "/"
	}
	return c, nil
}
