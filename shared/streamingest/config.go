package streamingest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Defaults of the optional settings; the same as shared/ingest's (a test
// keeps them so) without making the stream function link the S3 client.
const (
	DefaultPlatformDB    = "mysimbdp"
	DefaultReportSubject = "mysimbdp.reports"
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
		MongoURI:      getenv("MYSIMBDP_MONGO_URI"),
		PlatformDB:    orDefault(getenv("MYSIMBDP_PLATFORM_DB"), DefaultPlatformDB),
		NATSURL:       getenv("MYSIMBDP_NATS_URL"),
		ReportSubject: strings.TrimSuffix(orDefault(getenv("MYSIMBDP_REPORT_SUBJECT"), DefaultReportSubject), "."),
	}
	var errs []error
	var err error
	if c.Profile, c.ProfileSource, err = profile.FromEnv(getenv); err != nil {
		errs = append(errs, err)
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
