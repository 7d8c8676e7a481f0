package profile

import (
	"fmt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// FromEnv finds a function's tenant profile in its environment: the YAML
// text of contract.EnvProfile, or else the secret contract.EnvProfileSecret
// names. It returns the text unparsed and where it came from, for Parse's
// messages.
func FromEnv(env contract.Env) (yaml []byte, source string, err error) {
	if env.Profile != "" {
		return []byte(env.Profile), "$" + contract.EnvProfile, nil
	}
	name := env.ProfileSecret
	if name == "" {
		return nil, "", fmt.Errorf("%s is empty: it must hold the tenant profile's YAML (or set %s)", contract.EnvProfile, contract.EnvProfileSecret)
	}
	b, path, err := secret.Read(env.SecretsDir, name)
	if err != nil {
		return nil, path, fmt.Errorf("%s=%s: read the profile secret: %w", contract.EnvProfileSecret, name, err)
	}
	return b, path, nil
}
