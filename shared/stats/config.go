package stats

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/streamingest"
)

// Defaults of the optional settings; the platform database and report
// subject are the ingest apps' (streamingest's defaults equal ingest's).
const (
	DefaultPlatformDB    = streamingest.DefaultPlatformDB
	DefaultReportSubject = streamingest.DefaultReportSubject
	DefaultWindow        = 10 * time.Second
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
	// Window is the platform aggregation window.
	Window time.Duration
}

// ConfigFromEnv reads the Config through getenv (os.Getenv in the
// function, a map in tests), reporting every problem at once.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		MongoURI:      getenv("MYSIMBDP_MONGO_URI"),
		PlatformDB:    orDefault(getenv("MYSIMBDP_PLATFORM_DB"), DefaultPlatformDB),
		NATSURL:       getenv("MYSIMBDP_NATS_URL"),
		ReportSubject: strings.TrimSuffix(orDefault(getenv("MYSIMBDP_REPORT_SUBJECT"), DefaultReportSubject), "."),
		Window:        DefaultWindow,
	}
	var errs []error
	if c.MongoURI == "" {
		errs = append(errs, errors.New("MYSIMBDP_MONGO_URI is not set"))
	}
	if c.NATSURL == "" {
		errs = append(errs, errors.New("MYSIMBDP_NATS_URL is not set: profiles and quota decisions live in NATS KV"))
	}
	if v := getenv("MYSIMBDP_STATS_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("MYSIMBDP_STATS_WINDOW=%q: want a duration of at least 1s, such as 10s", v))
		} else {
			c.Window = d
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
