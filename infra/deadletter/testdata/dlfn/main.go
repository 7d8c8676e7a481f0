// Command dlfn is the function the dead-letter tests deploy: broken until
// the file $DLFN_DIR/fixed exists, then working. Every invocation is
// appended as one JSON line to $DLFN_DIR/calls.ndjson.
//
// Called with an S3 event (topic s3:…) it answers 500 while broken, 200
// once fixed. Called with a stream batch it reports every record failed
// while broken; once fixed it stores each record by appending its id to
// $DLFN_DIR/stored.ndjson, and takes it.
package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

// Call is one line of calls.ndjson; the tests decode it.
type Call struct {
	Topic    string   `json:"topic"`
	EventID  string   `json:"event_id"`
	Delivery string   `json:"delivery"`
	Fixed    bool     `json:"fixed"`
	Body     string   `json:"body,omitempty"`
	IDs      []string `json:"ids,omitempty"`
}

type batch struct {
	Records []struct {
		ID string `json:"id"`
	} `json:"records"`
}

type failure struct {
	ItemIdentifier string `json:"itemIdentifier"`
	Reason         string `json:"reason"`
}

func main() {
	fnrun.Main(handle)
}

func handle(w http.ResponseWriter, r *http.Request) {
	dir := os.Getenv("DLFN_DIR")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, err = os.Stat(filepath.Join(dir, "fixed"))
	c := Call{Topic: r.Header.Get("X-Topic"), EventID: r.Header.Get("X-Mysimbdp-Event-Id"),
		Delivery: r.Header.Get("X-Mysimbdp-Delivery"), Fixed: err == nil}
	if strings.HasPrefix(c.Topic, "s3:") {
		c.Body = string(body)
		if err := appendLine(dir, "calls.ndjson", c); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if !c.Fixed {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`)
		return
	}
	var b batch
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, "decode batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	failures := []failure{}
	for _, rec := range b.Records {
		c.IDs = append(c.IDs, rec.ID)
		if !c.Fixed {
			failures = append(failures, failure{ItemIdentifier: rec.ID, Reason: "broken"})
			continue
		}
		if err := appendLine(dir, "stored.ndjson", rec.ID); err != nil {
			failures = append(failures, failure{ItemIdentifier: rec.ID, Reason: err.Error()})
		}
	}
	if err := appendLine(dir, "calls.ndjson", c); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"batchItemFailures": failures})
}

// appendLine appends v as a JSON line under an exclusive lock: replicas
// share the folder.
func appendLine(dir, name string, v any) error {
	if dir == "" {
		return errors.New("DLFN_DIR is not set")
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return err
}
