package fnrun

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Lazy holds what a function builds on its first invocation and keeps for
// the life of the process: connections, a reporter. Building on first use
// rather than at start means a misconfigured replica still starts, passes
// its probes and says what is wrong in every answer. Unlike sync.Once, a
// failed build is not remembered: the next invocation tries again.
type Lazy[T any] struct {
	build func() (T, error)

	mu    sync.Mutex
	v     T
	built bool
}

// NewLazy returns a Lazy that builds its value with build.
func NewLazy[T any](build func() (T, error)) *Lazy[T] {
	return &Lazy[T]{build: build}
}

// Get returns the value, building it if this is the first call or the
// previous builds failed.
func (l *Lazy[T]) Get() (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built {
		return l.v, nil
	}
	v, err := l.build()
	if err != nil {
		return v, err
	}
	l.v, l.built = v, true
	return v, nil
}

// Release hands the value, if it was built, to release (to close it) and
// forgets it; the next Get builds a new one.
func (l *Lazy[T]) Release(release func(T) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.built {
		return nil
	}
	var zero T
	v := l.v
	l.v, l.built = zero, false
	return release(v)
}

// WriteJSON answers with status code and v as JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers with status code and {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}
