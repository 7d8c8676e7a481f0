// Command badchecker is a checker that answers as the request's dataset
// says, mostly outside the contract (see answers), so that one deployed
// function serves every case of the tests.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

// answers maps a dataset to the status and body answered.
var answers = map[string]struct {
	code int
	body string
}{
	"good":             {200, `{"rules":[{"name":"x","severity":"fail-file","max_share":0.5,"failures":[{"line":2,"reason":"bad"}]}]}`},
	"garbage":          {200, `<html>oops</html>`},
	"empty":            {200, ``},
	"down":             {503, `the database is down`},
	"busy":             {429, `too many checks`},
	"refuse":           {400, `no`},
	"crash":            {500, `panic: nil map`},
	"unknown-line":     {200, `{"rules":[{"name":"x","severity":"reject","failures":[{"line":99}]}]}`},
	"unknown-severity": {200, `{"rules":[{"name":"x","severity":"fatal","failures":[]}]}`},
	"too-many":         {200, `{"rules":[{"name":"x","severity":"warn","failures":[{"line":2},{"line":3},{"line":4},{"line":5},{"line":6},{"line":2}]}]}`},
	"unknown-field":    {200, `{"rules":[{"name":"x","severity":"fail-file","maxShare":0.5,"failures":[]}]}`},
	"trailing":         {200, `{"rules":[]} {"rules":[]}`},
	"huge":             {200, `{"rules":` + strings.Repeat(" ", contract.CheckMaxAnswerBytes) + `[]}`},
}

func main() {
	fnrun.Main(func(w http.ResponseWriter, r *http.Request) {
		var req contract.CheckRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.Dataset == "slow" {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		a, ok := answers[req.Dataset]
		if !ok {
			a.code, a.body = 200, `{"rules":[]}`
		}
		w.WriteHeader(a.code)
		_, _ = io.WriteString(w, a.body)
	})
}
