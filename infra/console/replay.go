package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// MakeReplayHandler serves POST /ui/deadletter/replay with form field id:
// infra/deadletter's Replay, as `mysimbdp deadletter replay ID`.
func MakeReplayHandler(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.PostFormValue("id"), 10, 64)
		if err != nil || id == 0 {
			back(w, r, "replay: no dead letter id", true)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d.SourceTimeout)
		defer cancel()
		rp, err := d.DeadLetters.Replay(ctx, id)
		if err != nil {
			back(w, r, err.Error(), true)
			return
		}
		d.Log.Info("console: dead letter replayed", "id", id, "tenant", rp.Letter.Tenant, "stream", rp.Stream, "seq", rp.Seq)
		back(w, r, fmt.Sprintf("dead letter %d (%s) replayed to %s (seq %d)", id, rp.Letter.What, rp.Stream, rp.Seq), false)
	}
}
