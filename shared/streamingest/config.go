package streamingest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Defaults of the optional settings; the same as shared/ingest's (a test
// keeps them so) without making the stream function link the S3 client.
const (
	DefaultPlatformDB    = "mysimbdp"
	DefaultReportSubject = "mysimbdp.reports"
	defaultSecretsDir    = "/var/openfaas/secrets"
)

// Config is what an Ingester needs: the tenant's profile and where the
// platform's parts are. See the package comment for the environment.
type Config struct {
	// Profile is the tenant profile's YAML text; ProfileSource names where
	// it came from, for error messages.
	Profile       []byte
	ProfileSource string

	MongoURI   string
	PlatformDB string

	// NATSURL is optional: without it window reports are only logged.
	NATSURL       string
	ReportSubject string
}

// ConfigFromEnv reads the Config through getenv (os.Getenv in a function,
// a map in tests), reporting every problem at once by variable name.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Profile:       []byte(getenv("MYSIMBDP_PROFILE")),
		ProfileSource: "$MYSIMBDP_PROFILE",
		MongoURI:      getenv("MYSIMBDP_MONGO_URI"),
		PlatformDB:    orDefault(getenv("MYSIMBDP_PLATFORM_DB"), DefaultPlatformDB),
		NATSURL:       getenv("MYSIMBDP_NATS_URL"),
		ReportSubject: strings.TrimSuffix(orDefault(getenv("MYSIMBDP_REPORT_SUBJECT"), DefaultReportSubject), "."),
	}
	var errs []error
	if len(c.Profile) == 0 {
		if name := getenv("MYSIMBDP_PROFILE_SECRET"); name != "" {
			path := filepath.Join(orDefault(getenv("MYSIMBDP_SECRETS_DIR"), defaultSecretsDir), name)
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("MYSIMBDP_PROFILE_SECRET=%s: read the profile secret: %w", name, err))
			}
			c.Profile, c.ProfileSource = b, path
		} else {
			errs = append(errs, errors.New("MYSIMBDP_PROFILE is empty: it must hold the tenant profile's YAML (or set MYSIMBDP_PROFILE_SECRET)"))
		}
	}
	if c.MongoURI == "" {
		errs = append(errs, errors.New("MYSIMBDP_MONGO_URI is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("stream ingest configuration: %w", err)
	}
	return c, nil
}

// Subject is the NATS subject of a tenant's reports: <prefix>.<tenant>.
func Subject(prefix, tenant string) string { return prefix + "." + tenant }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
