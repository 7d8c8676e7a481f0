package provider

import "testing"

// TestInvocationName: the fast path takes exactly the invocations the
// router would route to the proxy as they are, and leaves the rest
// (other routes, paths the router cleans first, odd names) to the router.
func TestInvocationName(t *testing.T) {
	for _, tc := range []struct {
		path, name string
		ok         bool
	}{
		{"/function/echo", "echo", true},
		{"/function/echo/", "echo", true},
		{"/function/echo.openfaas-fn", "echo.openfaas-fn", true},
		{"/function/t1-stream_ingest/a/b?x", "t1-stream_ingest", true},
		{"/function/", "", false},
		{"/function", "", false},
		{"/functions/echo", "", false},
		{"/system/function/echo", "", false},
		{"/async-function/echo", "", false},
		{"/function//echo", "", false},
		{"/function/echo/../x", "", false},
		{"/function/./echo", "", false},
		{"/function/ech%20o", "", false},
		{"/function/éc", "", false},
	} {
		name, ok := invocationName(tc.path)
		if name != tc.name || ok != tc.ok {
			t.Errorf("invocationName(%q) = %q, %t; want %q, %t", tc.path, name, ok, tc.name, tc.ok)
		}
	}
}
