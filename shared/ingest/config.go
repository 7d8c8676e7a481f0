package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// Defaults of the optional settings.
const (
	DefaultPlatformDB    = "mysimbdp"
	DefaultReportSubject = "mysimbdp.reports"
)

// Sinks a Config may name. SinkDiscard is a benchmarking aid, never for
// production: see Config.Sink.
const (
	SinkMongo   = ""
	SinkDiscard = "discard"
)

// Config is what a Batch needs: the tenant's profile and where the platform's
// parts are. See the package comment for the environment it is read from.
type Config struct {
	// Profile is the tenant profile's YAML text; ProfileSource names where
	// it came from, for error messages.
	Profile       []byte
	ProfileSource string

	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	// S3SessionToken goes with temporary credentials (an AWS role's).
	S3SessionToken string
	S3Secure       bool
	// S3Region, when set, saves the client a bucket-location lookup (AWS).
	S3Region string
	// Bucket is the tenant's bucket; empty means the profile's
	// (profile.Bucket: the tenant id). S3 bucket names are global on AWS,
	// so a tenant's bucket there is rarely named after the tenant alone.
	Bucket string

	MongoURI   string
	PlatformDB string

	// NATSURL is optional: without it no reports are published.
	NATSURL       string
	ReportSubject string

	// Sink is where good rows go: SinkMongo (the default) writes them to
	// the tenant's collection. SinkDiscard is a BENCHMARKING AID: rows are
	// read, coerced, given their ids, batched and counted (Report.RowsOK)
	// as usual, but each full batch of good rows is dropped instead of
	// written, so that a benchmark measures the function's parsing and
	// memory without the database. Rejected rows, the ingestion record and
	// the move out of incoming/ still happen. Never set it in a deployment.
	Sink string
}

// ConfigFromEnv reads the Config from the environment through getenv
// (os.Getenv in a function; a map in tests). Every problem is reported at
// once, naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		S3Endpoint:    getenv("MYSIMBDP_S3_ENDPOINT"),
		S3AccessKey:   getenv("MYSIMBDP_S3_ACCESS_KEY"),
		S3SecretKey:   getenv("MYSIMBDP_S3_SECRET_KEY"),
		S3Region:      getenv("MYSIMBDP_S3_REGION"),
		Bucket:        getenv("MYSIMBDP_S3_BUCKET"),
		MongoURI:      getenv("MYSIMBDP_MONGO_URI"),
		PlatformDB:    orDefault(getenv("MYSIMBDP_PLATFORM_DB"), DefaultPlatformDB),
		NATSURL:       getenv("MYSIMBDP_NATS_URL"),
		ReportSubject: strings.TrimSuffix(orDefault(getenv("MYSIMBDP_REPORT_SUBJECT"), DefaultReportSubject), "."),
		Sink:          getenv("MYSIMBDP_SINK"),
	}
	if c.S3AccessKey == "" && c.S3SecretKey == "" {
		// AWS Lambda gives its execution role's temporary credentials in
		// the variables every AWS SDK reads; no key need be configured.
		c.S3AccessKey, c.S3SecretKey, c.S3SessionToken = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
	}
	var errs []error
	var err error
	if c.Profile, c.ProfileSource, err = profile.FromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	for _, req := range []struct{ name, val string }{
		{"MYSIMBDP_S3_ENDPOINT", c.S3Endpoint},
		{"MYSIMBDP_S3_ACCESS_KEY (or AWS_ACCESS_KEY_ID)", c.S3AccessKey},
		{"MYSIMBDP_S3_SECRET_KEY (or AWS_SECRET_ACCESS_KEY)", c.S3SecretKey},
		{"MYSIMBDP_MONGO_URI", c.MongoURI},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is not set", req.name))
		}
	}
	if v := getenv("MYSIMBDP_S3_SECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("MYSIMBDP_S3_SECURE=%q: want true or false", v))
		}
		c.S3Secure = b
	}
	if c.Sink != SinkMongo && c.Sink != SinkDiscard {
		errs = append(errs, fmt.Errorf("MYSIMBDP_SINK=%q: want empty (MongoDB) or %q (benchmarks only)", c.Sink, SinkDiscard))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("ingest configuration: %w", err)
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
