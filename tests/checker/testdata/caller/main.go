// Command caller stands in for a tenant's platform batch app: deployed as
// `tenant apply` deploys that app (tenant.CheckerEnv, WithCheckerKeys), it
// takes {"function": <checker>, "request": <CheckRequest>}, invokes the
// checker with shared/checker configured from its own environment and
// secrets, and answers 200 with the checker's answer, or 502 with the
// error and which kind it is.
package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"

	"github.com/mysimbdp/mysimbdp/shared/checker"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
)

// Call is what the tests POST.
type Call struct {
	Function string                `json:"function"`
	Request  contract.CheckRequest `json:"request"`
}

// Failure is the 502 answer.
type Failure struct {
	Error string `json:"error"`
	Kind  string `json:"kind"` // config, unavailable, bad_answer, other
}

func main() {
	fnrun.Main(func(w http.ResponseWriter, r *http.Request) {
		var call Call
		if err := json.NewDecoder(r.Body).Decode(&call); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		env, _ := contract.FromEnv(os.Getenv)
		cfg, err := checker.ConfigFromEnv(env, call.Function)
		if err != nil {
			answer(w, http.StatusBadGateway, Failure{Error: err.Error(), Kind: "config"})
			return
		}
		c, err := checker.New(cfg)
		if err != nil {
			answer(w, http.StatusBadGateway, Failure{Error: err.Error(), Kind: "config"})
			return
		}
		resp, err := c.Check(r.Context(), call.Request)
		switch {
		case err == nil:
			answer(w, http.StatusOK, resp)
		case errors.Is(err, checker.ErrUnavailable):
			answer(w, http.StatusBadGateway, Failure{Error: err.Error(), Kind: "unavailable"})
		case errors.Is(err, checker.ErrBadAnswer):
			answer(w, http.StatusBadGateway, Failure{Error: err.Error(), Kind: "bad_answer"})
		default:
			answer(w, http.StatusBadGateway, Failure{Error: err.Error(), Kind: "other"})
		}
	})
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
