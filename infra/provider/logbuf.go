package provider

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openfaas/faas-provider/logs"
)

// logRing keeps a function's last lines in a fixed-size ring and fans new
// lines out to followers. Memory is bounded by lines × LogLineBytes plus
// each follower's channel buffer; a follower that falls behind loses lines
// rather than slowing the function down.
type logRing struct {
	mu        sync.Mutex
	buf       []logs.Message
	next      int
	full      bool
	followers map[chan logs.Message]struct{}
	closed    bool
}

func newLogRing(n int) *logRing {
	return &logRing{buf: make([]logs.Message, n), followers: map[chan logs.Message]struct{}{}}
}

func (l *logRing) add(m logs.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.buf[l.next] = m
	l.next = (l.next + 1) % len(l.buf)
	if l.next == 0 {
		l.full = true
	}
	for ch := range l.followers {
		select {
		case ch <- m:
		default:
		}
	}
}

// snapshot returns the kept lines oldest first and, when follow is set, a
// channel that receives later lines; taking both under one lock means a
// follower neither misses nor repeats a line.
func (l *logRing) snapshot(follow bool) ([]logs.Message, chan logs.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logs.Message
	if l.full {
		out = append(out, l.buf[l.next:]...)
	}
	out = append(out, l.buf[:l.next]...)
	if !follow || l.closed {
		return out, nil
	}
	ch := make(chan logs.Message, 256)
	l.followers[ch] = struct{}{}
	return out, ch
}

func (l *logRing) unfollow(ch chan logs.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.followers[ch]; ok {
		delete(l.followers, ch)
		close(ch)
	}
}

// close ends every follow (the function is gone).
func (l *logRing) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for ch := range l.followers {
		delete(l.followers, ch)
		close(ch)
	}
}

// lineWriter turns a replica's output stream into log lines. exec copies
// each stream from one goroutine, so it needs no lock of its own.
type lineWriter struct {
	r       *replica
	partial []byte
	max     int
	skip    bool // dropping the rest of an over-long line
}

// Both stdout and stderr go to one log, as `docker logs` merges them.
func (r *replica) lineWriter() *lineWriter {
	return &lineWriter{r: r, max: r.p.cfg.LogLineBytes}
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if !w.skip {
			room := w.max - len(w.partial)
			if len(chunk) > room {
				chunk = chunk[:room]
				w.skip = true
			}
			w.partial = append(w.partial, chunk...)
		}
		if i < 0 {
			break
		}
		w.emit()
		b = b[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit() {
	text := string(w.partial)
	w.partial, w.skip = w.partial[:0], false
	if !w.r.ready.Load() && strings.Contains(text, "address already in use") {
		w.r.clash.Store(true)
	}
	w.r.fn.logs.add(logs.Message{
		Name:      w.r.fn.name,
		Namespace: w.r.fn.namespace,
		Instance:  w.r.id,
		Timestamp: time.Now().UTC(),
		Text:      text,
	})
}

// logRequester is the logs.Requester over the providers' rings.
type logRequester struct{ p *Provider }

func (q logRequester) Query(ctx context.Context, req logs.Request) (<-chan logs.Message, error) {
	ns := q.p.namespaceOf(req.Namespace)
	fn := q.p.lookup(req.Name, ns)
	if fn == nil {
		return nil, fmt.Errorf("query logs: function %q not found in namespace %q", req.Name, ns)
	}
	kept, follow := fn.logs.snapshot(req.Follow)
	match := func(m logs.Message) bool {
		if req.Instance != "" && m.Instance != req.Instance {
			return false
		}
		return req.Since == nil || !m.Timestamp.Before(*req.Since)
	}
	var sel []logs.Message
	for _, m := range kept {
		if match(m) {
			sel = append(sel, m)
		}
	}
	if req.Tail > 0 && len(sel) > req.Tail {
		sel = sel[len(sel)-req.Tail:]
	}
	out := make(chan logs.Message)
	go func() {
		defer close(out)
		if follow != nil {
			defer fn.logs.unfollow(follow)
		}
		for _, m := range sel {
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
		if follow == nil {
			return
		}
		for {
			select {
			case m, ok := <-follow:
				if !ok {
					return
				}
				if !match(m) {
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
