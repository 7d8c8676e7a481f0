// Package invokesig signs a function's invocations and verifies them, so
// that only a caller holding the function's key (the platform's connector,
// the CLI on the local platform) can invoke it through the gateway: anyone
// else who reaches the gateway gets 401 from the function's runtime
// (shared/fnrun) before its handler runs.
//
// A signature is an HMAC-SHA256, with the function's own key, over the
// method, the path the function sees (the gateway strips /function/<name>;
// the gateway client always invokes a function's root "/"), the query,
// the signing time and the body's SHA-256. The time bounds a replay to the
// window the verifier allows (DefaultWindow). Each function's key derives
// from the platform's master key and the function's name (FunctionKey), so
// a tenant that reads its function's key can sign for no other function.
package invokesig

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// DefaultWindow is how far a signing time may be from the verifier's
// clock, either way: a replay is possible only this long.
const DefaultWindow = 5 * time.Minute

// scheme prefixes the signature header's value, so that a later scheme
// can be told from this one.
const scheme = "v1="

// keyLabel separates the derivation of invocation keys from any other use
// of the master key.
const keyLabel = "mysimbdp-invoke/"

// Errors Verify returns; each is what the function answers with its 401.
var (
	ErrUnsigned     = errors.New("unsigned invocation")
	ErrBadSignature = errors.New("bad signature")
	ErrStale        = errors.New("stale timestamp")
	ErrTooLarge     = errors.New("request body too large to verify")
)

// FunctionKey is function fn's invocation key, derived from the master
// key: hex of HMAC-SHA256(master, "mysimbdp-invoke/" + fn). It is what
// the function's key secret holds (as text, so that it reads back with no
// decoding) and what signs its invocations. fn is the function's name,
// without a namespace.
func FunctionKey(master []byte, fn string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(keyLabel + fn))
	return []byte(hex.EncodeToString(m.Sum(nil)))
}

// Sign sets the signing headers on h for an invocation with method, the
// path and raw query the function will see, and body, at now.
func Sign(h http.Header, key []byte, method, path, rawQuery string, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(contract.HeaderSignedAt, ts)
	h.Set(contract.HeaderSignature, scheme+hex.EncodeToString(mac(key, method, path, rawQuery, ts, body)))
}

// SignRequest signs r, whose URL is the one the function will see (the
// function's own path, not the gateway's /function/<name> path), reading
// its body and putting it back.
func SignRequest(r *http.Request, key []byte, now time.Time) error {
	body, err := readBody(r, -1)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	Sign(r.Header, key, r.Method, r.URL.Path, r.URL.RawQuery, body, now)
	return nil
}

// Verify checks r's signature with key, as the function sees r, allowing
// a signing time at most window from now either way. It reads the body
// (at most maxBody bytes; a negative maxBody means no bound) and puts it
// back, so the handler reads it as sent. The error is one of ErrUnsigned,
// ErrBadSignature, ErrStale or ErrTooLarge, or a read error.
func Verify(r *http.Request, key []byte, now time.Time, window time.Duration, maxBody int64) error {
	ts, sig := r.Header.Get(contract.HeaderSignedAt), r.Header.Get(contract.HeaderSignature)
	if ts == "" || sig == "" {
		return ErrUnsigned
	}
	hexSig, ok := strings.CutPrefix(sig, scheme)
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(secs, 0)); d > window || d < -window {
		return ErrStale
	}
	body, err := readBody(r, maxBody)
	if err != nil {
		return err
	}
	if !hmac.Equal(got, mac(key, r.Method, r.URL.Path, r.URL.RawQuery, ts, body)) {
		return ErrBadSignature
	}
	return nil
}

// mac is the signature: the fields, one a line, the body as its digest
// so that the signed text is small whatever the body.
func mac(key []byte, method, path, rawQuery, ts string, body []byte) []byte {
	if path == "" {
		path = "/"
	}
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "v1\n%s\n%s\n%s\n%s\n%s", method, path, rawQuery, ts, hex.EncodeToString(sum[:]))
	return m.Sum(nil)
}

// readBody reads r's body whole (at most max bytes unless max < 0) and
// replaces it with a reader of what was read.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	src := io.Reader(r.Body)
	if max >= 0 {
		if r.ContentLength > max {
			return nil, ErrTooLarge
		}
		src = io.LimitReader(r.Body, max+1)
	}
	body, err := io.ReadAll(src)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if max >= 0 && int64(len(body)) > max {
		return nil, ErrTooLarge
	}
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}
