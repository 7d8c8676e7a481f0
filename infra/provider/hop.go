package provider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// The invocation hop to a replica. http.Transport hands every request to
// a connection's write goroutine and its answer back from a read
// goroutine: three goroutine wake-ups per request, which on a busy small
// machine cost more than the rest of the hop (measured here, client to a
// replica: p50 ~90 µs for a synchronous write-then-read on a kept-alive
// connection against ~120-175 µs through the Transport, same run; through
// the provider, requests interleaved, ~10 µs less added p50). So a request
// whose body is small and of known length is written and its answer read
// on the handler's own goroutine, over the replica's own kept-alive
// connections; any other request (a body of unknown length, or larger than
// syncBodyLimit, Expect: 100-continue) goes through the Transport, which
// can read an early answer while it still writes.
const (
	// syncBodyLimit is the largest body sent on the synchronous path:
	// Go's HTTP server reads up to 256 KB of a body its handler left
	// unread before it answers, so a replica never leaves the rest of
	// such a body unread while this side still writes it.
	syncBodyLimit = 256 << 10
	// hopIdleMax is how long a connection may sit idle and still be
	// reused: a function's server closes idle connections after its
	// read_timeout (at least seconds), and a connection reused at that
	// moment would fail the request.
	hopIdleMax = 2 * time.Second
)

// syncEligible reports whether r may take the synchronous path.
func syncEligible(r *http.Request) bool {
	return r.ContentLength >= 0 && r.ContentLength <= syncBodyLimit && r.Header.Get("Expect") == ""
}

// hopConn is one kept-alive connection to a replica.
type hopConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	idle time.Time // when it was put back
}

// hopPool is a replica's idle connections, the most recently used last.
type hopPool struct {
	mu     sync.Mutex
	idle   []*hopConn
	max    int
	closed bool
}

// get returns an idle connection to addr that is still open, or nil.
func (hp *hopPool) get(addr string) *hopConn {
	now := time.Now()
	for {
		hp.mu.Lock()
		n := len(hp.idle)
		if n == 0 {
			hp.mu.Unlock()
			return nil
		}
		hc := hp.idle[n-1]
		hp.idle = hp.idle[:n-1]
		hp.mu.Unlock()
		if hc.addr == addr && now.Sub(hc.idle) < hopIdleMax && hc.br.Buffered() == 0 && open(hc.c) {
			return hc
		}
		hc.c.Close()
	}
}

// put keeps hc for the next request, or closes it when the pool is full
// or closed.
func (hp *hopPool) put(hc *hopConn) {
	hc.idle = time.Now()
	hp.mu.Lock()
	if hp.closed || len(hp.idle) >= hp.max {
		hp.mu.Unlock()
		hc.c.Close()
		return
	}
	hp.idle = append(hp.idle, hc)
	hp.mu.Unlock()
}

// close closes the idle connections and every one put back later: the
// replica is gone.
func (hp *hopPool) close() {
	hp.mu.Lock()
	idle := hp.idle
	hp.idle, hp.closed = nil, true
	hp.mu.Unlock()
	for _, hc := range idle {
		hc.c.Close()
	}
}

// open reports whether the replica has not closed c: a peek that would
// block means open; end of file, an error or unasked-for bytes mean the
// connection is not to be reused.
func open(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = n < 0 && errors.Is(rerr, syscall.EAGAIN)
		return true // never wait
	})
	return err == nil && alive
}

// roundTripSync sends out to the replica rep at addr and reads the
// answer's head on this goroutine, over one of the replica's kept-alive
// connections (or a new one). The answer's body, once read to its end and
// closed, gives the connection back. ctx's end cuts the exchange.
//
// As with the Transport, a request whose body is a stream is never sent
// twice: a kept-alive connection is checked still open just before it is
// used (and is not reused after hopIdleMax), and a failure after that is
// the request's.
func (p *Provider) roundTripSync(ctx context.Context, rep *replica, addr string, out *http.Request) (*http.Response, error) {
	hc := rep.hops.get(addr)
	if hc == nil {
		c, err := p.dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		hc = &hopConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 32<<10)}
	}
	// The context's end unblocks any read or write at once.
	stop := context.AfterFunc(ctx, func() { _ = hc.c.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		hc.c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := out.Write(hc.bw); err != nil {
		return fail(fmt.Errorf("send the request: %w", err))
	}
	if err := hc.bw.Flush(); err != nil {
		return fail(fmt.Errorf("send the request: %w", err))
	}
	for {
		resp, err := http.ReadResponse(hc.br, out)
		if err != nil {
			return fail(fmt.Errorf("read the answer: %w", err))
		}
		// 1xx answers are interim (none is asked for: no Expect); the
		// final one follows.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		resp.Body = &hopBody{rc: resp.Body, hc: hc, pool: &rep.hops, resp: resp, stop: stop}
		return resp, nil
	}
}

// hopBody is the answer's body: read to its end and closed, it puts the
// connection back into the replica's pool, unless the answer or the
// context's end said the connection is done.
type hopBody struct {
	rc   io.ReadCloser
	hc   *hopConn
	pool *hopPool
	resp *http.Response
	stop func() bool
	eof  bool
	done bool
}

func (b *hopBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *hopBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	// stop reports false when the context has ended (and the deadline
	// may be set): that connection is not reused.
	watched := b.stop()
	if !b.eof || !watched || b.resp.Close || b.resp.StatusCode == http.StatusSwitchingProtocols {
		// Closed first, so that closing the body does not read the
		// rest of an answer nobody wants.
		b.hc.c.Close()
		_ = b.rc.Close()
		return nil
	}
	err := b.rc.Close()
	b.pool.put(b.hc)
	return err
}
