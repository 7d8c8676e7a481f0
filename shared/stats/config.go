package stats

import (
	"errors"
	"fmt"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// ErrConfig marks a configuration error: the function is misdeployed,
// retrying does not help.
var ErrConfig = errors.New("stats configuration")

// Config is where the stats function finds the platform's parts. See the
// package comment for the environment it is read from.
type Config struct {
	MongoURI      string
	PlatformDB    string
	NATSURL       string
	ReportSubject string
	// CAFile is the platform's CA (shared/trust), for MongoDB and NATS.
	CAFile string
	// Window is the platform aggregation window.
	Window time.Duration
	// JSReplicas is the replica count of the control bucket, should the
	// stats function be the first to open it.
	JSReplicas int
}

// ConfigFromEnv reads the Config through getenv (os.Getenv in the
// function, a map in tests) with contract.FromEnv, reporting every problem
// at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	// Credentials come from the function's credentials secret.
	env, errs := secret.FunctionEnv(getenv)
	c := Config{
		MongoURI:      env.MongoURI,
		PlatformDB:    env.PlatformDB,
		NATSURL:       env.NATSURL,
		ReportSubject: env.ReportSubject,
		CAFile:        env.CAFile(),
		Window:        env.StatsWindow,
		JSReplicas:    env.JSReplicas,
	}
	if c.MongoURI == "" {
		errs = append(errs, fmt.Errorf("%s is not set", contract.EnvMongoURI))
	}
	if c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("%s is not set: profiles and quota decisions live in NATS KV", contract.EnvNATSURL))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}
