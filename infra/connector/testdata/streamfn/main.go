// Command streamfn is the stream function the connector's tests deploy. It
// decodes the batch with its own copy of the contract's JSON names (so a
// renamed field fails the tests), appends one JSON line per invocation to
// $STREAMFN_DIR/calls.ndjson, and answers by the records' payloads (data,
// or json when the connector sent it raw):
//
//	"poison"      the record is reported failed ("poison record")
//	"doomed"      the record is reported failed for good ("no dataset
//	              takes it", permanent)
//	"crash-once"  the first batch holding the record gets a 500
//	"defer-once"  the first batch holding the record gets a 429, Retry-After: 1
//
// $STREAMFN_SLEEP (a Go duration) delays every answer.
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

type record struct {
	ID          string              `json:"id"`
	Subject     string              `json:"subject"`
	Headers     map[string][]string `json:"headers"`
	Data        []byte              `json:"data"`
	JSON        json.RawMessage     `json:"json"`
	PublishedAt time.Time           `json:"published_at"`
}

type batch struct {
	Tenant  string   `json:"tenant"`
	Records []record `json:"records"`
}

type failure struct {
	ItemIdentifier string `json:"itemIdentifier"`
	Reason         string `json:"reason"`
	Permanent      bool   `json:"permanent,omitempty"`
}

// Call is one line of calls.ndjson; the tests decode it.
type Call struct {
	Tenant   string   `json:"tenant"`
	Topic    string   `json:"topic"`
	Header   string   `json:"header_tenant"`
	Delivery string   `json:"delivery"`
	Status   int      `json:"status"`
	IDs      []string `json:"ids"`
	Subjects []string `json:"subjects"`
	Failed   []string `json:"failed"`
	Error    string   `json:"error,omitempty"`
	// Encodings says per record how its payload came: "json" (raw JSON),
	// "data" (base64) or "both"; Payloads are the payloads.
	Encodings []string `json:"encodings"`
	Payloads  []string `json:"payloads"`
}

func main() {
	fnrun.Main(handle)
}

func handle(w http.ResponseWriter, r *http.Request) {
	if d, err := time.ParseDuration(os.Getenv("STREAMFN_SLEEP")); err == nil {
		time.Sleep(d)
	}
	dir := os.Getenv("STREAMFN_DIR")
	c := Call{Topic: r.Header.Get("X-Topic"), Header: r.Header.Get("X-Mysimbdp-Tenant"), Delivery: r.Header.Get("X-Mysimbdp-Delivery"), Status: 200}
	var b batch
	err := json.NewDecoder(r.Body).Decode(&b)
	switch {
	case err != nil:
		c.Status, c.Error = 400, "decode: "+err.Error()
	case r.Header.Get("Content-Type") != "application/json":
		c.Status, c.Error = 400, "content type "+r.Header.Get("Content-Type")
	case b.Tenant == "" || b.Tenant != c.Header:
		c.Status, c.Error = 400, "tenant "+b.Tenant+" vs header "+c.Header
	}
	c.Tenant = b.Tenant
	var failures []failure
	for _, rec := range b.Records {
		c.IDs = append(c.IDs, rec.ID)
		c.Subjects = append(c.Subjects, rec.Subject)
		if rec.ID == "" || rec.PublishedAt.IsZero() || rec.Headers == nil {
			c.Status, c.Error = 400, "incomplete record "+rec.ID
		}
		data := string(rec.Data)
		enc := "data"
		switch {
		case rec.JSON != nil && rec.Data != nil:
			enc = "both"
		case rec.JSON != nil:
			enc, data = "json", string(rec.JSON)
		}
		c.Encodings = append(c.Encodings, enc)
		c.Payloads = append(c.Payloads, data)
		switch {
		case strings.Contains(data, "poison"):
			failures = append(failures, failure{ItemIdentifier: rec.ID, Reason: "poison record"})
			c.Failed = append(c.Failed, rec.ID)
		case strings.Contains(data, "doomed"):
			failures = append(failures, failure{ItemIdentifier: rec.ID, Reason: "no dataset takes " + rec.Subject, Permanent: true})
			c.Failed = append(c.Failed, rec.ID)
		case strings.Contains(data, "crash-once") && first(dir, "crash-"+rec.ID):
			c.Status, c.Error = 500, "crash-once "+rec.ID
		case strings.Contains(data, "defer-once") && first(dir, "defer-"+rec.ID):
			if c.Status == 200 {
				c.Status = 429
			}
		}
	}
	if err := appendCall(dir, c); err != nil {
		http.Error(w, "record call: "+err.Error(), http.StatusInternalServerError)
		return
	}
	switch c.Status {
	case 200:
		if failures == nil {
			failures = []failure{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"batchItemFailures": failures})
	case 429:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "over quota", c.Status)
	default:
		http.Error(w, c.Error, c.Status)
	}
}

// first reports whether marker is seen for the first time (it creates it).
func first(dir, marker string) bool {
	f, err := os.OpenFile(filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(marker)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// appendCall appends c under an exclusive lock: replicas share the folder.
func appendCall(dir string, c Call) error {
	f, err := os.OpenFile(filepath.Join(dir, "calls.ndjson"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return err
}
