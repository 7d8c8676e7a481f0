package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestGuard: a POST runs only from the console's own page: same origin
// (Origin, else Referer) and the user's token.
func TestGuard(t *testing.T) {
	p, err := newPages(nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	h := p.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran = true }))
	good := httptest.NewRequest(http.MethodGet, "http://gw:8080/ui/", nil)
	good.SetBasicAuth("admin", "pw")
	token := p.token(good)
	for _, tc := range []struct {
		name, origin, referer, user, token string
		want                               bool
	}{
		{"same origin and token", "http://gw:8080", "", "admin", token, true},
		{"referer without origin", "", "http://gw:8080/ui/", "admin", token, true},
		{"another site", "http://evil.example", "", "admin", token, false},
		{"no origin nor referer", "", "", "admin", token, false},
		{"no token", "http://gw:8080", "", "admin", "", false},
		{"another user's token", "http://gw:8080", "", "someone", token, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran = false
			r := httptest.NewRequest(http.MethodPost, "http://gw:8080/ui/pause", strings.NewReader(url.Values{csrfField: {tc.token}, "tenant": {"t1"}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(tc.user, "pw")
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if ran != tc.want || (!tc.want && w.Code != http.StatusForbidden) {
				t.Fatalf("ran %v (want %v), status %d", ran, tc.want, w.Code)
			}
		})
	}
}

// TestSparkline: values scale to the chart's height; only numbers are
// written into the markup.
func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		values []float64
		want   string
	}{
		{[]float64{0, 0}, `points="0.0,23.0 120.0,23.0"`},
		{[]float64{0, 5, 10}, `points="0.0,23.0 60.0,12.0 120.0,1.0"`},
	} {
		if got := string(sparkline(tc.values)); !strings.Contains(got, tc.want) {
			t.Errorf("sparkline(%v) = %s, want %s", tc.values, got, tc.want)
		}
	}
}
