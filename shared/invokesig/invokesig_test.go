package invokesig

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestSignVerify(t *testing.T) {
	master := []byte("master-key-for-tests")
	key := FunctionKey(master, "tenant1-stream-ingest")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"tenant":"tenant1","records":[]}`)

	// signed is a request as the function sees it, signed by mutate's
	// choice of key, time and fields.
	type signing struct {
		key                 []byte
		at                  time.Time
		method, path, query string
		body                []byte
	}
	good := signing{key: key, at: now, method: http.MethodPost, path: "/", body: body}
	tests := []struct {
		name   string
		sign   func(s *signing)
		alter  func(r *http.Request) // after signing: what an attacker changes
		noSign bool
		want   error
	}{
		{name: "good", want: nil},
		{name: "good, a few minutes old", sign: func(s *signing) { s.at = now.Add(-4 * time.Minute) }},
		{name: "good, clock a little ahead", sign: func(s *signing) { s.at = now.Add(4 * time.Minute) }},
		{name: "wrong key", sign: func(s *signing) { s.key = FunctionKey([]byte("another master"), "tenant1-stream-ingest") }, want: ErrBadSignature},
		{name: "another function's key", sign: func(s *signing) { s.key = FunctionKey(master, "tenant2-stream-ingest") }, want: ErrBadSignature},
		{name: "the master key itself", sign: func(s *signing) { s.key = master }, want: ErrBadSignature},
		{name: "body changed", alter: func(r *http.Request) { r.Body = io.NopCloser(bytes.NewReader([]byte(`{"tenant":"tenant2"}`))) }, want: ErrBadSignature},
		{name: "path changed", alter: func(r *http.Request) { r.URL.Path = "/admin" }, want: ErrBadSignature},
		{name: "query added", alter: func(r *http.Request) { r.URL.RawQuery = "drop=all" }, want: ErrBadSignature},
		{name: "method changed", alter: func(r *http.Request) { r.Method = http.MethodPut }, want: ErrBadSignature},
		{name: "timestamp moved", alter: func(r *http.Request) { r.Header.Set(contract.HeaderSignedAt, "1800000001") }, want: ErrBadSignature},
		{name: "stale", sign: func(s *signing) { s.at = now.Add(-6 * time.Minute) }, want: ErrStale},
		{name: "future", sign: func(s *signing) { s.at = now.Add(6 * time.Minute) }, want: ErrStale},
		{name: "unsigned", noSign: true, want: ErrUnsigned},
		{name: "no timestamp", alter: func(r *http.Request) { r.Header.Del(contract.HeaderSignedAt) }, want: ErrUnsigned},
		{name: "no signature", alter: func(r *http.Request) { r.Header.Del(contract.HeaderSignature) }, want: ErrUnsigned},
		{name: "unknown scheme", alter: func(r *http.Request) { r.Header.Set(contract.HeaderSignature, "v0=00") }, want: ErrBadSignature},
		{name: "not hex", alter: func(r *http.Request) { r.Header.Set(contract.HeaderSignature, "v1=zz") }, want: ErrBadSignature},
		{name: "timestamp not a number", alter: func(r *http.Request) { r.Header.Set(contract.HeaderSignedAt, "soon") }, want: ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			if tt.sign != nil {
				tt.sign(&s)
			}
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			if !tt.noSign {
				Sign(r.Header, s.key, s.method, s.path, s.query, s.body, s.at)
			}
			if tt.alter != nil {
				tt.alter(r)
			}
			err := Verify(r, key, now, DefaultWindow, 1<<20)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil {
				return
			}
			// The handler still reads the body as sent.
			got, _ := io.ReadAll(r.Body)
			if !bytes.Equal(got, body) {
				t.Fatalf("body after Verify = %q, want %q", got, body)
			}
		})
	}
}

func TestVerifyBoundsTheBody(t *testing.T) {
	key := FunctionKey([]byte("m"), "f")
	now := time.Now()
	body := bytes.Repeat([]byte("x"), 100)
	for _, tt := range []struct {
		name          string
		max           int64
		contentLength int64
		want          error
	}{
		{name: "fits", max: 100, contentLength: 100},
		{name: "declared too long", max: 99, contentLength: 100, want: ErrTooLarge},
		{name: "longer than declared", max: 99, contentLength: -1, want: ErrTooLarge},
		{name: "no bound", max: -1, contentLength: -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			r.ContentLength = tt.contentLength
			Sign(r.Header, key, http.MethodPost, "/", "", body, now)
			if err := Verify(r, key, now, DefaultWindow, tt.max); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// SignRequest signs what the function sees, body and query included.
func TestSignRequest(t *testing.T) {
	key := FunctionKey([]byte("m"), "f")
	now := time.Now()
	r := httptest.NewRequest(http.MethodPost, "/sub/path?x=1", bytes.NewReader([]byte("payload")))
	if err := SignRequest(r, key, now); err != nil {
		t.Fatal(err)
	}
	if err := Verify(r, key, now, DefaultWindow, -1); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != "payload" {
		t.Fatalf("body = %q", b)
	}
}

func TestFunctionKeysDiffer(t *testing.T) {
	a, b := FunctionKey([]byte("m"), "tenant1-stream-ingest"), FunctionKey([]byte("m"), "tenant2-stream-ingest")
	if bytes.Equal(a, b) || bytes.Equal(a, FunctionKey([]byte("m2"), "tenant1-stream-ingest")) {
		t.Fatal("keys of different functions or masters are equal")
	}
	if !bytes.Equal(a, FunctionKey([]byte("m"), "tenant1-stream-ingest")) {
		t.Fatal("derivation is not deterministic")
	}
}
