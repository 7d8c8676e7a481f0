// Command testfn is the function the provider's tests deploy. What it does
// is chosen by the request path:
//
//	/            echo: answers the request body, with the method in X-Method
//	/sleep?ms=N  sleeps N milliseconds, then answers "slept N"
//	/crash       exits with status 1 at once (?after=1: after answering)
//	/pid         answers its process id
//	/env?name=X  answers the value of environment variable X
//	/secret?name=X answers the value of secret X
//	/log?msg=X   prints X on stdout and answers "logged"
//	/headers     answers X-Forwarded-For and X-Forwarded-Host
//	/sha         reads the body as a stream, answers "<bytes> <sha256 hex>"
//	/read?path=X answers file X's content, or 403 and why it could not
//	/list?path=X answers folder X's entries, or 403 and why it could not
//	/uid         answers "<uid> <gid> <supplementary groups>"
//	/remote      answers the caller's address (the provider's end of the connection)
//	/close       answers "closing" with Connection: close (the connection ends)
//
// TESTFN_START_DELAY (a Go duration) delays start-up, to test cold-start
// bounds.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

func main() {
	if d, err := time.ParseDuration(os.Getenv("TESTFN_START_DELAY")); err == nil {
		time.Sleep(d)
	}
	fmt.Printf("testfn starting pid=%d\n", os.Getpid())
	fnrun.Main(handle)
}

func handle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/sleep":
		ms, _ := strconv.Atoi(q.Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "slept %d", ms)
	case "/crash":
		if q.Get("after") == "" {
			os.Exit(1)
		}
		// fnrun's exec_timeout wrapper buffers the answer until the
		// handler returns, so exit a moment later from another goroutine.
		go func() {
			time.Sleep(100 * time.Millisecond)
			os.Exit(1)
		}()
		fmt.Fprint(w, "bye")
	case "/pid":
		fmt.Fprint(w, os.Getpid())
	case "/env":
		fmt.Fprint(w, os.Getenv(q.Get("name")))
	case "/secret":
		v, err := fnrun.ReadSecret(q.Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprint(w, v)
	case "/read":
		b, err := os.ReadFile(q.Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		_, _ = w.Write(b)
	case "/list":
		es, err := os.ReadDir(q.Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		for _, e := range es {
			fmt.Fprintln(w, e.Name())
		}
	case "/uid":
		groups, _ := os.Getgroups()
		fmt.Fprintf(w, "%d %d %v", os.Getuid(), os.Getgid(), groups)
	case "/log":
		fmt.Println(q.Get("msg"))
		fmt.Fprint(w, "logged")
	case "/sha":
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	case "/remote":
		fmt.Fprint(w, r.RemoteAddr)
	case "/close":
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, "closing")
	case "/headers":
		fmt.Fprintf(w, "xff=%s xfh=%s", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"))
	default:
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Path", r.URL.Path)
		w.Header().Set("X-Query", r.URL.RawQuery)
		// Read first: an HTTP/1 handler may not read the body once it
		// has started answering.
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}
}
