package contract_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

func TestAsyncCallRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		in   contract.AsyncCall
		want contract.AsyncCall
	}{
		{
			name: "every field, headers kept",
			in: contract.AsyncCall{Name: "echo", Namespace: "openfaas-fn", Tenant: "t1", Method: http.MethodPost, Path: "/a/b", RawQuery: "x=1&y=2",
				Header: http.Header{"X-Call-Id": {"c1"}, "X-Callback-Url": {"http://cb/x"}, "Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}},
				Body:   []byte("hello")},
			want: contract.AsyncCall{Name: "echo", Namespace: "openfaas-fn", Tenant: "t1", Method: http.MethodPost, Path: "/a/b", RawQuery: "x=1&y=2",
				Header: http.Header{"X-Call-Id": {"c1"}, "X-Callback-Url": {"http://cb/x"}, "Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}},
				Body:   []byte("hello")},
		},
		{
			name: "a client's own Mysimbdp-Async-* headers do not override the gateway's",
			in: contract.AsyncCall{Name: "echo", Namespace: "ns", Method: http.MethodPost, Path: "/",
				Header: http.Header{"Mysimbdp-Async-Path": {"/admin"}, "Mysimbdp-Async-Function": {"other"}}},
			want: contract.AsyncCall{Name: "echo", Namespace: "ns", Method: http.MethodPost, Path: "/", Header: http.Header{}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, data := tc.in.Message()
			// The stream adds its own headers, which are not the request's.
			h["Nats-Expected-Stream"] = []string{"ASYNC"}
			got, err := contract.AsyncCallOf(h, data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("round trip = %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := contract.AsyncCallOf(map[string][]string{"X-Call-Id": {"c"}}, nil); err == nil {
		t.Error("a message without the gateway's headers was read as a call")
	}
}
