package console

import (
	"context"
	"net/http"
	"net/url"

	"github.com/mysimbdp/mysimbdp/infra/connector/control"
)

// MakePauseHandler serves POST /ui/pause (pause true) and /ui/resume with
// form field tenant, through the same code as `mysimbdp pause` and
// `resume`: the tenant's flag in the control bucket, which the connector
// obeys.
func MakePauseHandler(d Deps, pause bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PostFormValue("tenant")
		ctx, cancel := context.WithTimeout(r.Context(), d.SourceTimeout)
		defer cancel()
		verb, f := "resumed", control.Resume
		if pause {
			verb, f = "paused", control.Pause
		}
		if err := f(ctx, d.JetStream, tenant); err != nil {
			back(w, r, err.Error(), true)
			return
		}
		d.Log.Info("console: tenant "+verb, "tenant", tenant)
		back(w, r, "tenant "+tenant+" "+verb, false)
	}
}

// back redirects to the overview with the action's outcome (POST,
// redirect, GET: a reload does not repeat the action).
func back(w http.ResponseWriter, r *http.Request, msg string, failed bool) {
	q := url.Values{"msg": {msg}}
	if failed {
		q.Set("err", "1")
	}
	http.Redirect(w, r, Prefix+"?"+q.Encode(), http.StatusSeeOther)
}
