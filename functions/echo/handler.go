// Package function is the echo function: it answers with the request's body
// and a few facts about the replica that served it. The platform deploys it
// as a smoke test of the whole invoke path (gateway → provider → replica)
// and the provider benchmark measures that path with it.
package function

import (
	"io"
	"net/http"
	"os"
	"strconv"
)

// Handle copies the request body to the response, streaming, so it also
// serves to check that large bodies pass the proxy without buffering.
func Handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Replica-Pid", strconv.Itoa(os.Getpid()))
	if ct := r.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, r.Body)
}
