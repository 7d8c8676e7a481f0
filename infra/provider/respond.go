package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// maxSystemBody bounds /system request bodies; specs and secrets are small.
const maxSystemBody = 1 << 20

// decodeJSON reads a /system request body into v; errors are 400s that
// carry the decoder's message.
func decodeJSON(w http.ResponseWriter, r *http.Request, what string, v any) error {
	if r.Body == nil {
		return badRequest("decode %s: empty body", what)
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSystemBody)).Decode(v); err != nil {
		return badRequest("decode %s: %v", what, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// httpStatusError carries a status other than 400 or 500.
type httpStatusError struct {
	code int
	msg  string
}

func (e *httpStatusError) Error() string { return e.msg }

func statusError(code int, format string, args ...any) error {
	return &httpStatusError{code: code, msg: fmt.Sprintf(format, args...)}
}

func notFound(name, namespace string) error {
	return statusError(http.StatusNotFound, "function %s not found in namespace %s", name, namespace)
}

// writeError maps an error to its status: errBadRequest → 400,
// httpStatusError → its code, anything else → 500.
func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var se *httpStatusError
	switch {
	case errors.As(err, &se):
		code = se.code
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	}
	if code >= 500 {
		p.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	http.Error(w, err.Error(), code)
}
