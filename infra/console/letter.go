package console

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
)

// letterBodyLimit bounds the body shown on the page.
const letterBodyLimit = 8 << 10

type letterView struct {
	page
	Letter    deadletter.Letter
	Headers   [][2]string
	Body      string
	Truncated bool
	Binary    bool
}

// MakeLetterHandler serves GET /ui/deadletter?id=N: one dead letter
// whole, as `mysimbdp deadletter show`.
func MakeLetterHandler(d Deps, pages *pages) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		if err != nil {
			http.Error(w, "want ?id=<dead letter number>", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d.SourceTimeout)
		defer cancel()
		l, err := d.DeadLetters.Get(ctx, id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		v := letterView{page: pages.base(r, "dead letter "+strconv.FormatUint(id, 10)), Letter: l}
		for k, vs := range l.Header {
			for _, x := range vs {
				v.Headers = append(v.Headers, [2]string{k, x})
			}
		}
		sort.Slice(v.Headers, func(i, j int) bool { return v.Headers[i][0] < v.Headers[j][0] })
		body := l.Body
		if len(body) > letterBodyLimit {
			body, v.Truncated = body[:letterBodyLimit], true
		}
		if utf8.Valid(body) {
			v.Body = string(body)
		} else {
			v.Binary = true
		}
		pages.render(w, "letter", v)
	}
}
