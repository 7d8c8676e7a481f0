package stats

import "testing"

// A token names its tenant and is valid only under the key it was made
// with, unaltered.
func TestTenantToken(t *testing.T) {
	key, other := []byte("stats-invoke-key"), []byte("another key")
	good := TenantToken(key, "tenant1")
	altered := good[:len(good)-1] + "0"
	if altered == good {
		altered = good[:len(good)-1] + "1"
	}
	for _, tt := range []struct {
		name, token string
		key         []byte
		want        string
		ok          bool
	}{
		{name: "good", token: good, key: key, want: "tenant1", ok: true},
		{name: "another key", token: good, key: other},
		{name: "no key", token: good, key: nil},
		{name: "tenant renamed", token: "tenant2" + good[len("tenant1"):], key: key},
		{name: "signature altered", token: altered, key: key},
		{name: "no signature", token: "tenant1.", key: key},
		{name: "no tenant", token: good[len("tenant1"):], key: key},
		{name: "no dot", token: "tenant1", key: key},
		{name: "not hex", token: "tenant1.zz", key: key},
		{name: "empty", token: "", key: key},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := TokenTenant(tt.key, tt.token)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("TokenTenant(%q) = %q, %v; want %q, %v", tt.token, got, ok, tt.want, tt.ok)
			}
		})
	}
	if TenantToken(key, "tenant1") == TenantToken(key, "tenant2") {
		t.Fatal("two tenants got the same token")
	}
}
