package stats

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// tokenLabel separates the derivation of stats tokens from the key's
// other use (signing the stats function's invocations).
const tokenLabel = "mysimbdp-stats-token/"

// TenantToken is tenant's stats token, which lets it read its own stats
// (GET /function/stats) and no other tenant's: "<tenant>." and the hex
// HMAC-SHA256, under key, of the tenant's name. key is the stats
// function's invocation key (invokesig.FunctionKey(master,
// contract.StatsFunction)), so that the function checks a token with what
// it holds already and `tenant apply`, which has the master key, issues
// them; no token is stored on the platform's side.
func TenantToken(key []byte, tenant string) string {
	return tenant + "." + hex.EncodeToString(tokenMAC(key, tenant))
}

// TokenTenant returns the tenant token was issued to, if it is a valid
// token under key.
func TokenTenant(key []byte, token string) (string, bool) {
	tenant, sig, ok := strings.Cut(token, ".")
	if !ok || tenant == "" || len(key) == 0 {
		return "", false
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, tokenMAC(key, tenant)) {
		return "", false
	}
	return tenant, true
}

func tokenMAC(key []byte, tenant string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenLabel + tenant))
	return m.Sum(nil)
}
