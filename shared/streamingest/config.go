package streamingest

import (
	"errors"
	"fmt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// Config is what an Ingester needs: the tenant's profile and where the
// platform's parts are. See the package comment for the environment.
type Config struct {
	// Profile is the tenant profile's YAML text; ProfileSource names where
	// it came from, for error messages.
	Profile       []byte
	ProfileSource string

	MongoURI string
	// CAFile is the platform's CA (shared/trust), for MongoDB and NATS.
	CAFile     string
	PlatformDB string

	// NATSURL is optional: without it window reports are only logged.
	NATSURL       string
	ReportSubject string
}

// ConfigFromEnv reads the Config through getenv (os.Getenv in a function,
// a map in tests) with contract.FromEnv, reporting every problem at once
// by variable name.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	// Credentials come from the function's credentials secret.
	env, errs := secret.FunctionEnv(getenv)
	c := Config{
		MongoURI:      env.MongoURI,
		CAFile:        env.CAFile(),
		PlatformDB:    env.PlatformDB,
		NATSURL:       env.NATSURL,
		ReportSubject: env.ReportSubject,
	}
	var err error
	if c.Profile, c.ProfileSource, err = profile.FromEnv(env); err != nil {
		errs = append(errs, err)
	}
	if c.MongoURI == "" {
		errs = append(errs, fmt.Errorf("%s is not set", contract.EnvMongoURI))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("stream ingest configuration: %w", err)
	}
	return c, nil
}
