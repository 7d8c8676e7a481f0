package function

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
	"github.com/mysimbdp/mysimbdp/shared/stats"
)

// readers is who may GET the stats: the operator with the gateway's
// basic-auth credentials (every tenant), and a tenant with its stats
// token (stats.TenantToken: its own rows only). Each is read from the
// function's secrets; one that is missing admits nobody that way.
type readers struct {
	user, password string
	// tokenKey is the function's invocation key, under which tenants'
	// tokens are made; nil: no token is valid.
	tokenKey []byte
}

// loadReaders reads the gateway's credentials (secrets basic-auth-user
// and basic-auth-password, as the scaler reads them) and the function's
// invocation key (the secret contract.EnvInvokeKeySecret names).
func loadReaders(getenv func(string) string) readers {
	env, _ := contract.FromEnv(getenv)
	read := func(name string) string {
		if name == "" {
			return ""
		}
		b, _, err := secret.Read(env.SecretsDir, name)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	rd := readers{user: read(contract.SecretGatewayUser), password: read(contract.SecretGatewayPassword)}
	if key := read(env.InvokeKeySecret); key != "" {
		rd.tokenKey = []byte(key)
	}
	return rd
}

// errForbidden is a reader asking for what its credentials do not show.
type errForbidden struct{ msg string }

func (e errForbidden) Error() string { return e.msg }

// who authenticates r and says which tenant's stats it may read: "" is
// every tenant (the operator). want is the tenant the request asks for
// (?tenant=), "" for all. It answers an error that is a 401 (no or bad
// credentials) or an errForbidden (a tenant asking for another's).
func (rd readers) who(r *http.Request, want string) (string, error) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", fmt.Errorf("credentials required: the gateway's (basic auth) or a tenant's stats token (Authorization: Bearer <token>)")
	}
	if u, p, ok := r.BasicAuth(); ok {
		if rd.user == "" || rd.password == "" ||
			subtle.ConstantTimeCompare([]byte(u), []byte(rd.user))&subtle.ConstantTimeCompare([]byte(p), []byte(rd.password)) != 1 {
			return "", fmt.Errorf("bad credentials")
		}
		return want, nil
	}
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		tenant, ok := stats.TokenTenant(rd.tokenKey, strings.TrimSpace(token))
		if !ok {
			return "", fmt.Errorf("bad credentials")
		}
		if want != "" && want != tenant {
			return "", errForbidden{fmt.Sprintf("the token of tenant %s shows only its own stats, not %s's", tenant, want)}
		}
		return tenant, nil
	}
	return "", fmt.Errorf("bad credentials: want basic auth or a bearer token")
}
