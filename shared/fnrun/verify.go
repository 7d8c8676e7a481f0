package fnrun

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// DefaultMaxSignedBody bounds the body the runtime reads to verify an
// invocation's signature when Config.MaxSignedBody is zero: the largest
// body a platform function takes (a stream batch, 128 MiB).
const DefaultMaxSignedBody = 128 << 20

// invokeKey reads the function's invocation key from the secret that
// env.InvokeKeySecret names; no name means no key (invocations are not
// verified). A named secret that cannot be read is an error: a function
// meant to verify must not start without.
func invokeKey(env contract.Env) (string, error) {
	if env.InvokeKeySecret == "" {
		return "", nil
	}
	b, _, err := secret.Read(env.SecretsDir, env.InvokeKeySecret)
	if err != nil {
		return "", fmt.Errorf("%s=%s: %w", contract.EnvInvokeKeySecret, env.InvokeKeySecret, err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("%s=%s: the secret is empty", contract.EnvInvokeKeySecret, env.InvokeKeySecret)
	}
	return key, nil
}

// verified serves h only the invocations signed with key within the
// replay window, and the requests of a handlerAuth method that carry an
// Authorization header (h authenticates those itself); any other gets 401
// (or 413 for a body too large to verify) before h runs, marked as the
// runtime's answer.
func verified(h http.Handler, key []byte, handlerAuth []string, window time.Duration, maxBody int64, now func() time.Time, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" && slices.Contains(handlerAuth, r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		err := invokesig.Verify(r, key, now(), window, maxBody)
		if err == nil {
			h.ServeHTTP(w, r)
			return
		}
		code := http.StatusUnauthorized
		switch {
		case errors.Is(err, invokesig.ErrTooLarge):
			code = http.StatusRequestEntityTooLarge
		case errors.Is(err, invokesig.ErrUnsigned), errors.Is(err, invokesig.ErrBadSignature), errors.Is(err, invokesig.ErrStale):
		default:
			code = http.StatusBadRequest
		}
		log.Warn("invocation refused", "path", r.URL.Path, "status", code, "err", err)
		w.Header().Set(contract.HeaderOrigin, contract.OriginRuntime)
		http.Error(w, err.Error(), code)
	})
}
