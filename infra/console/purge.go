package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// MakePurgeHandler serves POST /ui/deadletter/purge with form field id:
// infra/deadletter's Delete, as `mysimbdp deadletter purge ID --yes` (the
// button's confirmation is the page's own form).
func MakePurgeHandler(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PostFormValue("id"), 10, 64)
		if err != nil || id == 0 {
			back(w, r, "purge: no dead letter id", true)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d.SourceTimeout)
		defer cancel()
		l, err := d.DeadLetters.Delete(ctx, id)
		if err != nil {
			back(w, r, err.Error(), true)
			return
		}
		d.Log.Info("console: dead letter purged", "id", id, "tenant", l.Tenant)
		back(w, r, fmt.Sprintf("dead letter %d (%s) purged", id, l.What), false)
	}
}
