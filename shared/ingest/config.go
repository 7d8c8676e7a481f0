package ingest

import (
	"errors"
	"fmt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/secret"
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
	// CAFile is the platform's CA, trusted besides the system's roots by
	// the S3, MongoDB and NATS clients (shared/trust).
	CAFile string
	// S3Region, when set, saves the client a bucket-location lookup (AWS).
	S3Region string
	// Bucket is the tenant's bucket; empty means the profile's
	// (profile.Bucket: the tenant id). S3 bucket names are global on AWS,
	// so a tenant's bucket there is rarely named after the tenant alone.
	Bucket string

	// MongoURI reaches the tenant's database: the sink, the quarantine and
	// the ingestion records are all there.
	MongoURI string

	// NATSURL is optional: without it no reports are published.
	NATSURL       string
	ReportSubject string

	// Sink is where good rows go: SinkMongo (the default) writes them to
	// the tenant's collection. SinkDiscard is a BENCHMARKING AID: rows are
	// read, coerced, given their ids, batched and counted (contract.BatchReport.RowsOK)
	// as usual, but each full batch of good rows is dropped instead of
	// written, so that a benchmark measures the function's parsing and
	// memory without the database. Rejected rows, the ingestion record and
	// the move out of incoming/ still happen. Never set it in a deployment.
	Sink string

	// Env is the function's whole environment, for the tenant's quality
	// checkers (shared/checker.ConfigFromEnv).
	Env contract.Env
}

// ConfigFromEnv reads the Config from the environment through getenv
// (os.Getenv in a function; a map in tests) with contract.FromEnv. Every
// problem is reported at once, naming the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	// Credentials come from the function's credentials secret.
	env, errs := secret.FunctionEnv(getenv)
	c := Config{
		S3Endpoint:     env.S3Endpoint,
		S3AccessKey:    env.S3AccessKey,
		S3SecretKey:    env.S3SecretKey,
		S3SessionToken: env.S3SessionToken,
		S3Secure:       env.S3Secure,
		CAFile:         env.CAFile(),
		S3Region:       env.S3Region,
		Bucket:         env.S3Bucket,
		MongoURI:       env.MongoURI,
		NATSURL:        env.NATSURL,
		ReportSubject:  env.ReportSubject,
		Sink:           env.Sink,
		Env:            env,
	}
	var err error
	if c.Profile, c.ProfileSource, err = profile.FromEnv(env); err != nil {
		errs = append(errs, err)
	}
	for _, req := range []struct{ name, val string }{
		{contract.EnvS3Endpoint, c.S3Endpoint},
		{contract.EnvS3AccessKey + " (or " + contract.EnvAWSAccessKeyID + ")", c.S3AccessKey},
		{contract.EnvS3SecretKey + " (or " + contract.EnvAWSSecretAccessKey + ")", c.S3SecretKey},
		{contract.EnvMongoURI, c.MongoURI},
	} {
		if req.val == "" {
			errs = append(errs, fmt.Errorf("%s is not set", req.name))
		}
	}
	if c.Sink != SinkMongo && c.Sink != SinkDiscard {
		errs = append(errs, fmt.Errorf("%s=%q: want empty (MongoDB) or %q (benchmarks only)", contract.EnvSink, c.Sink, SinkDiscard))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("ingest configuration: %w", err)
	}
	return c, nil
}
