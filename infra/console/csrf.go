package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
)

// csrfField is the form field carrying the token.
const csrfField = "csrf"

// token is the CSRF token of the request's user: an HMAC of the user
// name under the process's key. Basic auth is the session, so a token per
// user suffices; another site's page can neither read it nor compute it.
func (p *pages) token(r *http.Request) string {
	user, _, _ := r.BasicAuth()
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte("mysimbdp-console|" + user))
	return hex.EncodeToString(m.Sum(nil))
}

// guard refuses a POST that does not come from the console itself: its
// Origin (or, without one, its Referer) must be this host, and its form
// must carry the user's token. A browser sends the basic-auth credentials
// it holds with any site's form, so the credentials alone prove nothing.
func (p *pages) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			http.Error(w, "refused: the request does not come from this console (Origin/Referer)", http.StatusForbidden)
			return
		}
		if !hmac.Equal([]byte(r.PostFormValue(csrfField)), []byte(p.token(r))) {
			http.Error(w, "refused: missing or wrong CSRF token; reload the page", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" || from == "null" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return false
	}
	u, err := url.Parse(from)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == r.Host
}
