// Package function is the starting point `faas-cli new --lang
// golang-mysimbdp` copies into a new function's folder.
package function

import (
	"fmt"
	"io"
	"net/http"
)

// Handle answers every request to the function. The runtime (shared/fnrun)
// has already applied the timeouts; the request context is cancelled when
// the caller goes away or exec_timeout passes.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, fmt.Sprintf("read request: %v", err), http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "Hello from mysimbdp, you said: %q\n", body)
}
