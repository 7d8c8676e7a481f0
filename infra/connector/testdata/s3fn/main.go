// Command s3fn is the function the connector's tests deploy. It appends
// every invocation (its number, the mysimbdp headers and the body) as one
// JSON line to $S3FN_DIR/calls.ndjson, then answers as $S3FN_MODE says:
//
//	ok      200
//	fail    500 "boom" always
//	failN   500 for the first $S3FN_N invocations, then 200
//	defer   429 with Retry-After: 1 for the first $S3FN_N invocations, then 200
//	down    503 with Retry-After: 1 (a dependency outage) always
//	sleep   sleeps $S3FN_SLEEP (a Go duration), then 200
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

// Call is one line of calls.ndjson; the tests decode it.
type Call struct {
	N       int               `json:"n"`
	Method  string            `json:"method"`
	URI     string            `json:"uri"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func main() {
	fnrun.Main(handle)
}

func handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := record(r, body)
	if err != nil {
		http.Error(w, "record call: "+err.Error(), http.StatusInternalServerError)
		return
	}
	limit, _ := strconv.Atoi(os.Getenv("S3FN_N"))
	switch os.Getenv("S3FN_MODE") {
	case "fail":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "failN":
		if n <= limit {
			http.Error(w, fmt.Sprintf("failing call %d of %d", n, limit), http.StatusInternalServerError)
			return
		}
	case "defer":
		if n <= limit {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "over quota", http.StatusTooManyRequests)
			return
		}
	case "down":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	case "sleep":
		d, _ := time.ParseDuration(os.Getenv("S3FN_SLEEP"))
		time.Sleep(d)
	}
	fmt.Fprintf(w, `{"status":"ok","call":%d}`, n)
}

// record appends the call under an exclusive lock (replicas may share the
// folder) and returns its number, 1 for the first.
func record(r *http.Request, body []byte) (int, error) {
	dir := os.Getenv("S3FN_DIR")
	f, err := os.OpenFile(filepath.Join(dir, "calls.ndjson"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	old, err := os.ReadFile(f.Name())
	if err != nil {
		return 0, err
	}
	n := 1
	for _, b := range old {
		if b == '\n' {
			n++
		}
	}
	h := map[string]string{}
	for _, k := range []string{"X-Topic", "X-Mysimbdp-Tenant", "X-Mysimbdp-Event-Id", "X-Mysimbdp-Delivery", "Content-Type", "X-Call-Id", "X-Custom"} {
		h[k] = r.Header.Get(k)
	}
	line, err := json.Marshal(Call{N: n, Method: r.Method, URI: r.URL.RequestURI(), Headers: h, Body: string(body)})
	if err != nil {
		return 0, err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	return n, nil
}
