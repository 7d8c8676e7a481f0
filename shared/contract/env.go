package contract

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Environment variables. The platform's own settings are MYSIMBDP_*, the
// gateway's are OPENFAAS_* as faas-cli reads them, AWS's are AWS's; the
// function runtime also reads of-watchdog's (port, read_timeout,
// write_timeout, exec_timeout: see shared/fnrun). FromEnv reads them all.
const (
	EnvGatewayURL      = "OPENFAAS_URL"
	EnvGatewayUser     = "OPENFAAS_USERNAME"
	EnvGatewayPassword = "OPENFAAS_PASSWORD"

	EnvNATSURL      = "MYSIMBDP_NATS_URL"
	EnvNATSUser     = "MYSIMBDP_NATS_USER"
	EnvNATSPassword = "MYSIMBDP_NATS_PASSWORD"

	EnvMongoURI      = "MYSIMBDP_MONGO_URI"
	EnvPlatformDB    = "MYSIMBDP_PLATFORM_DB"
	EnvReportSubject = "MYSIMBDP_REPORT_SUBJECT"

	EnvS3Endpoint  = "MYSIMBDP_S3_ENDPOINT"
	EnvS3AccessKey = "MYSIMBDP_S3_ACCESS_KEY"
	EnvS3SecretKey = "MYSIMBDP_S3_SECRET_KEY"
	EnvS3Secure    = "MYSIMBDP_S3_SECURE"
	EnvS3Region    = "MYSIMBDP_S3_REGION"
	EnvS3Bucket    = "MYSIMBDP_S3_BUCKET"

	// EnvTLSCAFile is the CA certificate (PEM) that every client of the
	// platform trusts besides the system's, when its parts serve TLS
	// (`mysimbdp up --tls`). Whether a link uses TLS is the URL's to say
	// (tls://, https://, mongodb://…?tls=true, MYSIMBDP_S3_SECURE); this
	// only says whom to trust. A value without a slash is the name of a
	// secret in the secrets folder (TLSCASecret), as functions get it.
	EnvTLSCAFile = "MYSIMBDP_TLS_CA_FILE"

	EnvTenant        = "MYSIMBDP_TENANT"
	EnvProfile       = "MYSIMBDP_PROFILE"
	EnvProfileSecret = "MYSIMBDP_PROFILE_SECRET"
	EnvSecretsDir    = "MYSIMBDP_SECRETS_DIR"
	// EnvCredentialsSecret names a secret holding settings that are
	// credentials, one NAME=value line each (NAME one of these variables,
	// e.g. MYSIMBDP_S3_SECRET_KEY), so that no credential is an
	// environment variable, which the gateway's API shows; a variable
	// that is set wins over the secret's line (see shared/secret.Getenv).
	EnvCredentialsSecret = "MYSIMBDP_CREDENTIALS_SECRET"
	// EnvInvokeKeySecret names the secret holding a function's own
	// invocation key (InvokeKeySecret(function)); when it is set, the
	// function's runtime (shared/fnrun) refuses every invocation that is
	// not signed with that key (shared/invokesig).
	EnvInvokeKeySecret = "MYSIMBDP_INVOKE_KEY_SECRET"
	// EnvInvokeHandlerAuth lists the HTTP methods (comma-separated, e.g.
	// "GET") whose requests the function's handler authenticates itself
	// from their Authorization header: such a request that carries one
	// reaches the handler unsigned; any other still needs a signature.
	// The stats function's GET (operator or tenant token) is one.
	EnvInvokeHandlerAuth = "MYSIMBDP_INVOKE_HANDLER_AUTH"
	// EnvInvokeMasterKey is the platform's invocation master key for the
	// parts that sign invocations or provision functions' keys (the
	// connector, `mysimbdp tenant apply` on a cluster), where it comes
	// from a Kubernetes Secret; else they read the secret file
	// InvokeMasterKeySecret.
	EnvInvokeMasterKey = "MYSIMBDP_INVOKE_MASTER_KEY"
	// EnvCheckerFunctions lists (comma-separated) the tenant's quality
	// checker functions that its platform batch app may invoke: for each
	// checker fn the app is given the secret InvokeKeySecret(fn), the
	// checker's invocation key, to sign its calls with (shared/checker),
	// and the gateway's URL as EnvGatewayURL.
	EnvCheckerFunctions = "MYSIMBDP_CHECKER_FUNCTIONS"
	EnvSink             = "MYSIMBDP_SINK"

	EnvStatsWindow        = "MYSIMBDP_STATS_WINDOW"
	EnvScaleStabilization = "MYSIMBDP_SCALE_STABILIZATION"
	// EnvScaleMetricsURL is where the scaler reads the invocations in
	// flight per function (MetricFunctionInflight, Prometheus text);
	// default the gateway's /metrics, where the local provider serves it.
	EnvScaleMetricsURL = "MYSIMBDP_SCALE_METRICS_URL"

	// The connector's sweep, the backstop for a lost MinIO notification:
	// how often it lists the buckets' incoming/ folders, and how old an
	// object with no pending event must be to be announced again.
	EnvSweepInterval = "MYSIMBDP_SWEEP_INTERVAL"
	EnvSweepAge      = "MYSIMBDP_SWEEP_AGE"

	// EnvJSReplicas is how many NATS servers keep each of the platform's
	// JetStream streams and KV buckets: 1 on one server (the local
	// platform), 3 on a three-server cluster, where losing one server
	// loses no stream.
	EnvJSReplicas = "MYSIMBDP_JS_REPLICAS"

	EnvMetricsAddr = "MYSIMBDP_METRICS_ADDR"
	EnvLogLevel    = "MYSIMBDP_LOG_LEVEL"
	// EnvConsoleAddr is where the standalone connector serves the
	// operator's dashboard (/ui/, infra/console) on a cluster, where no
	// mysimbdp gateway serves it; empty: no dashboard.
	EnvConsoleAddr = "MYSIMBDP_CONSOLE_ADDR"

	// The CLI's: the local platform's data folder, the mc binary, and
	// how functions reach the parts when that differs from the CLI.
	EnvDataDir            = "MYSIMBDP_DATA"
	EnvMCBin              = "MYSIMBDP_MC"
	EnvFunctionS3Endpoint = "MYSIMBDP_FUNCTION_S3_ENDPOINT"
	EnvFunctionMongoURI   = "MYSIMBDP_FUNCTION_MONGO_URI"
	EnvFunctionNATSURL    = "MYSIMBDP_FUNCTION_NATS_URL"
	// EnvFunctionGatewayURL is the gateway as functions reach it (a
	// tenant's batch app calls its quality checker there).
	EnvFunctionGatewayURL = "MYSIMBDP_FUNCTION_GATEWAY_URL"
	// EnvRegistry is where the platform apps' images are pushed
	// (registry host and path, e.g. ghcr.io/acme): tenants' functions
	// run <registry>/batch-ingest:latest rather than Docker Hub's
	// mysimbdp/batch-ingest:latest.
	EnvRegistry = "MYSIMBDP_REGISTRY"

	// AWS's own, read under Lambda.
	EnvAWSAccessKeyID      = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretAccessKey  = "AWS_SECRET_ACCESS_KEY"
	EnvAWSSessionToken     = "AWS_SESSION_TOKEN"
	EnvAWSLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"
	EnvAWSLambdaFunction   = "AWS_LAMBDA_FUNCTION_NAME"
)

// Defaults of the settings that have one.
const (
	DefaultGatewayURL = "http://127.0.0.1:8080"
	// DefaultClusterGatewayURL is the gateway as a function inside an
	// OpenFaaS cluster reaches it: a platform function's default, where
	// DefaultGatewayURL (this machine) is the CLI's.
	DefaultClusterGatewayURL = "http://gateway.openfaas:8080"
	DefaultNATSURL           = "nats://127.0.0.1:4222"
	DefaultPlatformDB        = "mysimbdp"
	DefaultStatsWindow       = 10 * time.Second
	DefaultSweepInterval     = time.Minute
	DefaultSweepAge          = 10 * time.Minute
	DefaultJSReplicas        = 1
	DefaultMetricsAddr       = ":8081"
	DefaultLogLevel          = "info"
	DefaultDataDir           = ".data"
)

// Old names still read, each for the name that replaced it; the new name
// wins when both are set. Env.Warn logs each one that was read.
const (
	envOldGatewayURL         = "GATEWAY_URL"
	envOldMysimbdpGatewayURL = "MYSIMBDP_GATEWAY_URL"
	envOldNATSURL            = "NATS_URL"
	envOldNATSUser           = "NATS_USER"
	envOldNATSPassword       = "NATS_PASSWORD"
	envOldSecretMountPath    = "SECRET_MOUNT_PATH"
	envOldMetricsAddr        = "METRICS_ADDR"
	envOldLogLevel           = "LOG_LEVEL"
)

func deprecatedNames() []struct{ old, now string } {
	return []struct{ old, now string }{
		{envOldGatewayURL, EnvGatewayURL},
		{envOldMysimbdpGatewayURL, EnvGatewayURL},
		{envOldNATSURL, EnvNATSURL},
		{envOldNATSUser, EnvNATSUser},
		{envOldNATSPassword, EnvNATSPassword},
		{envOldSecretMountPath, EnvSecretsDir},
		{envOldMetricsAddr, EnvMetricsAddr},
		{envOldLogLevel, EnvLogLevel},
	}
}

// Env is every setting read from the environment, defaults filled in.
// Which ones a part needs, and what it does without them, is the part's
// to say (ingest.ConfigFromEnv, stats.ConfigFromEnv, …).
type Env struct {
	GatewayURL, GatewayUser, GatewayPassword string

	NATSURL, NATSUser, NATSPassword string

	MongoURI   string
	PlatformDB string
	// ReportSubject is the prefix reports are published under
	// (ReportSubject(prefix, tenant)); default ReportSubjectPrefix.
	ReportSubject string

	S3Endpoint, S3AccessKey, S3SecretKey string
	// S3SessionToken goes with temporary credentials (an AWS role's).
	S3SessionToken string
	S3Secure       bool
	S3Region       string
	S3Bucket       string

	// TLSCAFile is EnvTLSCAFile as given; CAFile resolves it.
	TLSCAFile string

	Tenant        string
	Profile       string
	ProfileSecret string
	SecretsDir    string
	Sink          string
	// InvokeKeySecret is the secret with the function's invocation key;
	// empty: invocations are not verified.
	InvokeKeySecret string
	// InvokeHandlerAuth are the methods the handler authenticates itself
	// (EnvInvokeHandlerAuth), upper case.
	InvokeHandlerAuth []string
	// InvokeMasterKey is the platform's invocation master key, if given.
	InvokeMasterKey string
	// CheckerFunctions are the checker functions whose invocation keys the
	// function was given (EnvCheckerFunctions).
	CheckerFunctions []string

	StatsWindow time.Duration
	// ScaleStabilization is zero when unset: the scaler's own default.
	ScaleStabilization time.Duration
	// ScaleMetricsURL is empty when unset: the gateway's /metrics.
	ScaleMetricsURL string

	// SweepInterval and SweepAge are the connector's sweep's.
	SweepInterval, SweepAge time.Duration

	// JSReplicas is the replica count of every stream and KV bucket the
	// platform creates or updates (1 to 5, JetStream's limit).
	JSReplicas int

	MetricsAddr string
	LogLevel    string
	// ConsoleAddr is empty when unset: no dashboard.
	ConsoleAddr string

	DataDir                                               string
	MCBin                                                 string
	Registry                                              string
	FunctionS3Endpoint, FunctionMongoURI, FunctionNATSURL string
	FunctionGatewayURL                                    string

	// LambdaRuntimeAPI is set when the binary runs under AWS Lambda;
	// LambdaFunction is the function's name there.
	LambdaRuntimeAPI, LambdaFunction string

	// Deprecated names each old variable that was read, with its new
	// name; Warn logs them.
	Deprecated []string

	// set holds the variables given a value (under their new names), so
	// that a part can tell a setting left at its default from one given
	// (IsSet).
	set map[string]bool
}

// IsSet reports whether variable name (an Env* constant) was given a
// value, itself or under an old name; a default, or S3 keys taken from
// AWS's variables, is not. The CLI uses it to prefer the local stack's
// endpoints to defaults.
func (e Env) IsSet(name string) bool { return e.set[name] }

// CAFile is the path of the CA certificate clients trust
// (EnvTLSCAFile), a secret's name resolved in SecretsDir; empty: only the
// system's roots.
func (e Env) CAFile() string {
	if e.TLSCAFile == "" || strings.ContainsRune(e.TLSCAFile, '/') {
		return e.TLSCAFile
	}
	return e.SecretsDir + "/" + e.TLSCAFile
}

// FromEnv reads every setting through getenv (os.Getenv, or a map's
// lookup in tests), as of-watchdog's config.New does. A value that cannot
// be parsed is an error naming the variable; every such error is
// reported at once.
func FromEnv(getenv func(string) string) (Env, error) {
	var deprecated []string
	set := map[string]bool{}
	get := func(name string) string {
		if v := getenv(name); v != "" {
			set[name] = true
			return v
		}
		for _, d := range deprecatedNames() {
			if d.now == name {
				if v := getenv(d.old); v != "" {
					deprecated = append(deprecated, d.old+" (use "+d.now+")")
					set[name] = true
					return v
				}
			}
		}
		return ""
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	e := Env{
		GatewayURL:         or(get(EnvGatewayURL), DefaultGatewayURL),
		GatewayUser:        get(EnvGatewayUser),
		GatewayPassword:    get(EnvGatewayPassword),
		NATSURL:            get(EnvNATSURL),
		NATSUser:           get(EnvNATSUser),
		NATSPassword:       get(EnvNATSPassword),
		MongoURI:           get(EnvMongoURI),
		PlatformDB:         or(get(EnvPlatformDB), DefaultPlatformDB),
		ReportSubject:      strings.TrimSuffix(or(get(EnvReportSubject), ReportSubjectPrefix), "."),
		S3Endpoint:         get(EnvS3Endpoint),
		S3AccessKey:        get(EnvS3AccessKey),
		S3SecretKey:        get(EnvS3SecretKey),
		S3Region:           get(EnvS3Region),
		S3Bucket:           get(EnvS3Bucket),
		TLSCAFile:          get(EnvTLSCAFile),
		Tenant:             get(EnvTenant),
		Profile:            get(EnvProfile),
		ProfileSecret:      get(EnvProfileSecret),
		SecretsDir:         or(get(EnvSecretsDir), DefaultSecretsDir),
		Sink:               get(EnvSink),
		InvokeKeySecret:    get(EnvInvokeKeySecret),
		InvokeHandlerAuth:  methods(get(EnvInvokeHandlerAuth)),
		InvokeMasterKey:    get(EnvInvokeMasterKey),
		CheckerFunctions:   list(get(EnvCheckerFunctions)),
		StatsWindow:        DefaultStatsWindow,
		ScaleMetricsURL:    get(EnvScaleMetricsURL),
		SweepInterval:      DefaultSweepInterval,
		SweepAge:           DefaultSweepAge,
		JSReplicas:         DefaultJSReplicas,
		MetricsAddr:        or(get(EnvMetricsAddr), DefaultMetricsAddr),
		LogLevel:           or(get(EnvLogLevel), DefaultLogLevel),
		ConsoleAddr:        get(EnvConsoleAddr),
		DataDir:            or(get(EnvDataDir), DefaultDataDir),
		MCBin:              get(EnvMCBin),
		Registry:           get(EnvRegistry),
		FunctionS3Endpoint: get(EnvFunctionS3Endpoint),
		FunctionMongoURI:   get(EnvFunctionMongoURI),
		FunctionNATSURL:    get(EnvFunctionNATSURL),
		FunctionGatewayURL: get(EnvFunctionGatewayURL),
		LambdaRuntimeAPI:   get(EnvAWSLambdaRuntimeAPI),
		LambdaFunction:     get(EnvAWSLambdaFunction),
	}
	if e.S3AccessKey == "" && e.S3SecretKey == "" {
		// AWS Lambda gives its execution role's temporary credentials in
		// the variables every AWS SDK reads; no key need be configured.
		e.S3AccessKey, e.S3SecretKey, e.S3SessionToken = get(EnvAWSAccessKeyID), get(EnvAWSSecretAccessKey), get(EnvAWSSessionToken)
	}

	var errs []error
	if v := get(EnvS3Secure); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", EnvS3Secure, v))
		}
		e.S3Secure = b
	}
	if v := get(EnvStatsWindow); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("%s=%q: want a duration of at least 1s, such as 10s", EnvStatsWindow, v))
		} else {
			e.StatsWindow = d
		}
	}
	if v := get(EnvScaleStabilization); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration, such as 1m", EnvScaleStabilization, v))
		} else {
			e.ScaleStabilization = d
		}
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{EnvSweepInterval, &e.SweepInterval}, {EnvSweepAge, &e.SweepAge}} {
		if v := get(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < time.Second {
				errs = append(errs, fmt.Errorf("%s=%q: want a duration of at least 1s, such as 1m", d.name, v))
			} else {
				*d.v = t
			}
		}
	}
	if v := get(EnvJSReplicas); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			errs = append(errs, fmt.Errorf("%s=%q: want a number of servers from 1 to 5, such as 3", EnvJSReplicas, v))
		} else {
			e.JSReplicas = n
		}
	}
	e.Deprecated, e.set = deprecated, set
	return e, errors.Join(errs...)
}

// Warn logs one line per deprecated variable that was read.
func (e Env) Warn(log *slog.Logger) {
	for _, d := range e.Deprecated {
		log.Warn("deprecated environment variable; it still works but will go", "variable", d)
	}
}

// list splits a comma-separated list, dropping blanks around entries and
// empty entries.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// methods splits a comma-separated list of HTTP methods, upper-cased,
// dropping empty entries.
func methods(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			out = append(out, m)
		}
	}
	return out
}
