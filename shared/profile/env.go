package profile

import (
	"errors"
	"fmt"

	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// FromEnv finds a function's tenant profile through getenv: the YAML text
// in MYSIMBDP_PROFILE, or else the secret MYSIMBDP_PROFILE_SECRET names. It
// returns the text unparsed and where it came from, for Parse's messages.
func FromEnv(getenv func(string) string) (yaml []byte, source string, err error) {
	if v := getenv("MYSIMBDP_PROFILE"); v != "" {
		return []byte(v), "$MYSIMBDP_PROFILE", nil
	}
	name := getenv("MYSIMBDP_PROFILE_SECRET")
	if name == "" {
		return nil, "", errors.New("MYSIMBDP_PROFILE is empty: it must hold the tenant profile's YAML (or set MYSIMBDP_PROFILE_SECRET)")
	}
	b, path, err := secret.Read(getenv, name)
	if err != nil {
		return nil, path, fmt.Errorf("MYSIMBDP_PROFILE_SECRET=%s: read the profile secret: %w", name, err)
	}
	return b, path, nil
}
