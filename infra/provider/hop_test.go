package provider

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	testharness "github.com/mysimbdp/mysimbdp/tests/harness"
)

// TestSyncHop: invocations with small bodies of known length take the
// synchronous hop; it keeps one connection to the replica alive across
// requests, gives up a connection the replica ends or a client abandons,
// and answers like the Transport path for every body size and kind.
func TestSyncHop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.deploy(spec("hop", nil, nil))
	h.waitReplicas("hop", defNS, 1)
	h.pids("hop", defNS)
	remote := func() string {
		t.Helper()
		code, body := h.do(http.MethodPost, "/function/hop/remote", "x", false)
		if code != http.StatusOK {
			t.Fatalf("remote = %d %q", code, body)
		}
		return body
	}

	t.Run("one connection kept alive", func(t *testing.T) {
		first := remote()
		for i := range 50 {
			if got := remote(); got != first {
				t.Fatalf("request %d came from %s, the first from %s: the connection was not reused", i, got, first)
			}
		}
	})

	t.Run("a connection the replica ends is not reused", func(t *testing.T) {
		before := remote()
		if code, body := h.do(http.MethodPost, "/function/hop/close", "x", false); code != http.StatusOK || body != "closing" {
			t.Fatalf("close = %d %q", code, body)
		}
		if after := remote(); after == before {
			t.Errorf("after Connection: close the request came on the same connection %s", after)
		}
	})

	t.Run("an abandoned request ends its connection", func(t *testing.T) {
		before := remote()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.srv.URL+"/function/hop/sleep?ms=2000", strings.NewReader("x"))
		if resp, err := h.client.Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("abandoned request answered %d", resp.StatusCode)
		}
		// The replica is still asleep on that connection: the next
		// request must come on another one, at once.
		start := time.Now()
		if after := remote(); after == before {
			t.Errorf("after an abandoned request the next came on the same connection %s", after)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("the next request took %s: it waited for the abandoned one", d)
		}
	})

	t.Run("bodies", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			size    int
			chunked bool
		}{
			{"empty", 0, false},
			{"small", 300, false},
			{"at the limit", syncBodyLimit, false},
			{"over the limit (Transport)", syncBodyLimit + 1, false},
			{"unknown length (Transport)", 5000, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := bytes.Repeat([]byte("0123456789abcdef"), tc.size/16+1)[:tc.size]
				var rd io.Reader = bytes.NewReader(body)
				if tc.chunked {
					rd = io.MultiReader(rd) // hides the length: sent chunked
				}
				req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/function/hop/echo", rd)
				resp, err := h.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) || resp.Header.Get("X-Path") != "/echo" {
					t.Errorf("echo of %d bytes = %d, %d bytes back, %v", tc.size, resp.StatusCode, len(got), err)
				}
			})
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16*20)
		for w := range 16 {
			wg.Go(func() {
				for i := range 20 {
					want := fmt.Sprintf("worker %d request %d", w, i)
					req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/function/hop", strings.NewReader(want))
					resp, err := h.client.Do(req)
					if err != nil {
						errs <- err
						continue
					}
					got, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || string(got) != want {
						errs <- fmt.Errorf("%q answered %d %q", want, resp.StatusCode, got)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

// TestOpen: a kept-alive connection counts as open until its other end
// closes it, and then never again.
func TestOpen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server := <-accepted
	if !open(c) {
		t.Fatal("a fresh connection is not open")
	}
	if _, err := server.Write([]byte("unasked")); err != nil {
		t.Fatal(err)
	}
	testharness.Until(t, 5*time.Second, "bytes the client did not ask for to make the connection unusable", func() (bool, string) {
		return !open(c), "still open"
	})

	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	go func() {
		if s, err := ln.Accept(); err == nil {
			s.Close()
		}
	}()
	testharness.Until(t, 5*time.Second, "a connection its server closed to count as closed", func() (bool, string) {
		return !open(c2), "still open"
	})
}
