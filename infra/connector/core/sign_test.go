package core

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mysimbdp/mysimbdp/shared/gateway"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
)

// TestInvokerSigns: with a master key every call the connector makes is
// signed with the target function's key over what the function sees; a
// caller's request passed on (an asynchronous call) never is, so queueing
// a forged call cannot get it signed.
func TestInvokerSigns(t *testing.T) {
	master := []byte("core-test-master")
	verdict := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What the function sees: the path after /function/<name>.
		r.URL.Path = "/" + strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/function/fn.openfaas-fn"), "/")
		verdict <- invokesig.Verify(r, invokesig.FunctionKey(master, "fn"), time.Now(), invokesig.DefaultWindow, 1<<20)
	}))
	defer srv.Close()
	gw, err := gateway.New(srv.URL, "admin", "pw")
	if err != nil {
		t.Fatal(err)
	}
	iv := NewInvoker(gw, 10*time.Second, NewMetrics(prometheus.NewRegistry()), master)
	target := Target{Name: "fn", Namespace: "openfaas-fn"}
	for _, tc := range []struct {
		name   string
		req    Request
		signed bool
	}{
		{"a plain POST", Request{Method: http.MethodPost, Body: []byte("rows")}, true},
		{"another method, path and query", Request{Method: http.MethodPut, Path: "sub/path", RawQuery: "x=1", Body: []byte("b")}, true},
		{"a caller's call passed on", Request{Method: http.MethodPost, Body: []byte("forged"), Unsigned: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv.InvokeRequest(context.Background(), target, tc.req, AnswerLimit)
			err := <-verdict
			switch {
			case tc.signed && err != nil:
				t.Errorf("the function cannot verify the connector's call: %v", err)
			case !tc.signed && !errors.Is(err, invokesig.ErrUnsigned):
				t.Errorf("the function's verdict on a call passed on: %v, want %v", err, invokesig.ErrUnsigned)
			}
		})
	}
}
