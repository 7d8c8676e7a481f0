package tenant

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/secret"
)

// The images of the platform's generic ingest apps (built from
// functions/batch-ingest and functions/stream-ingest, see
// platform-apps.yml), as Docker Hub names; FunctionEnv.Registry moves
// them to another registry (Image).
const (
	BatchImage  = "mysimbdp/batch-ingest:latest"
	StreamImage = "mysimbdp/stream-ingest:latest"
)

// Image is image pushed to registry (host and path, e.g. ghcr.io/acme):
// the registry takes the place of the Docker Hub namespace, as
// platform-apps.yml's ${MYSIMBDP_REGISTRY:-mysimbdp}/<app> does. An empty
// registry leaves image as it is.
func Image(registry, image string) string {
	registry = strings.TrimRight(strings.TrimSpace(registry), "/")
	if registry == "" {
		return image
	}
	return registry + "/" + image[strings.LastIndex(image, "/")+1:]
}

// FunctionEnv is where a tenant's functions find the platform's parts, as
// the functions (not the CLI) reach them: on a cluster these are service
// names, locally the stack's endpoints.
type FunctionEnv struct {
	S3Endpoint string
	S3Secure   bool
	MongoURI   string
	// NATSURL is where the functions publish reports
	// (contract.ReportSubject(…, tenant)), as the tenant's function user
	// (natsauth.FunctionUser), whose credentials CredentialsSecret puts in;
	// any user in it is replaced. It and MongoURI reach the functions in
	// their credentials secret.
	NATSURL string
	// Registry is where the platform apps' images were pushed (see
	// Image); empty means their Docker Hub names.
	Registry string
	// GatewayURL is the gateway as functions reach it, for a batch app
	// that invokes its tenant's quality checkers (CheckerEnv); empty:
	// contract.DefaultClusterGatewayURL.
	GatewayURL string
	// CASecret, when the platform's parts serve TLS with a CA of their
	// own, is the secret holding it (contract.TLSCASecret): every
	// function gets it, named by contract.EnvTLSCAFile. Empty: the
	// system's roots only.
	CASecret string
}

// CredentialsSecret is the value of the tenant's credentials secret
// (contract.CredentialsSecret), which its functions read through
// MYSIMBDP_CREDENTIALS_SECRET: its own S3 keys, so that a function reaches
// only its tenant's bucket, and the MongoDB and NATS URLs, which may carry
// passwords. Credentials are never environment variables, which the
// gateway's API shows to whoever may list functions.
func CredentialsSecret(env FunctionEnv, c Credentials) ([]byte, error) {
	natsURL, err := natsauth.WithUser(env.NATSURL, natsauth.FunctionUser(c.Tenant), c.NATSFunctionPassword)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: functions' NATS URL: %w", c.Tenant, err)
	}
	vals := map[string]string{
		contract.EnvS3AccessKey: c.S3AccessKey,
		contract.EnvS3SecretKey: c.S3SecretKey,
		contract.EnvMongoURI:    env.MongoURI,
		contract.EnvNATSURL:     natsURL,
	}
	// On a platform serving TLS, a tenant's own app (which sets no
	// variables of ours) learns it here; lines only then, so that the
	// secret of a platform without TLS stays as it was.
	if env.S3Secure {
		vals[contract.EnvS3Secure] = "true"
	}
	if env.CASecret != "" {
		vals[contract.EnvTLSCAFile] = env.CASecret
	}
	return secret.FormatEnv(vals)
}

// Deployments are the functions `tenant apply` deploys for the tenant: the
// platform's generic batch and stream apps, each when at least one of the
// tenant's datasets uses it (apps.batch / apps.stream: platform, the
// default; a profile without datasets has one, made of its own apps). One
// function per flow serves every such dataset: the batch one subscribes to
// the whole bucket (s3:<bucket>) and the stream one to every subject of
// the tenant, and each finds a record's dataset by its folder or subject;
// a dataset's own app subscribes to its folder or subjects only (see
// OwnAppTopic), which the connector routes to before the catch-all. They
// have the shape stack.yml gives functions: the tenant label, the topic
// annotation, the profile and the tenant's credentials as secrets.
func Deployments(p *profile.Profile, env FunctionEnv) []types.FunctionDeployment {
	var out []types.FunctionDeployment
	batch, stream := platformApps(p)
	if batch {
		out = append(out, deployment(p, p.BatchFunction(), Image(env.Registry, BatchImage),
			map[string]string{contract.AnnotationTopic: "s3:" + p.Bucket()},
			map[string]string{
				contract.EnvS3Endpoint: env.S3Endpoint,
				contract.EnvS3Secure:   strconv.FormatBool(env.S3Secure),
				// A file may take minutes; the connector keeps the event in progress.
				"read_timeout":  "15m",
				"write_timeout": "15m",
				"exec_timeout":  "15m",
			}))
	}
	if batch {
		// The profile was validated, so its checkers' names are the
		// tenant's: CheckerEnv cannot refuse them here.
		if names, err := CheckerNames(p, ProfileCheckers(p)); err == nil {
			vars, _ := CheckerEnv(p, env, names)
			maps.Copy(out[len(out)-1].EnvVars, vars)
		}
	}
	if stream {
		out = append(out, deployment(p, p.StreamFunction(), Image(env.Registry, StreamImage),
			map[string]string{
				contract.AnnotationTopic:       p.StreamSubject(),
				contract.AnnotationBatchSize:   "100",
				contract.AnnotationBatchWindow: "20ms",
				contract.AnnotationMaxInflight: "2",
				// JSON records as they are, not in base64 (issue 18).
				contract.AnnotationRecordEncoding: contract.RecordEncodingJSON,
			},
			map[string]string{
				"read_timeout":  "1m",
				"write_timeout": "1m",
				"exec_timeout":  "1m",
			}))
	}
	if env.CASecret != "" {
		for i := range out {
			out[i].EnvVars[contract.EnvTLSCAFile] = env.CASecret
			out[i].Secrets = append(out[i].Secrets, env.CASecret)
		}
	}
	return out
}

// platformApps says whether any dataset of p has its files (batch) or its
// records (stream) ingested by the platform's app.
func platformApps(p *profile.Profile) (batch, stream bool) {
	for _, d := range p.AllDatasets() {
		batch = batch || d.Apps.Batch != profile.AppOwn
		stream = stream || d.Apps.Stream != profile.AppOwn
	}
	return batch, stream
}

// OwnAppTopic is the topic annotation a tenant's own app for dataset d
// declares, with the label contract.LabelTenant=<tenant>: its folder
// (s3:<bucket>/incoming/<dataset>/) for a batch app, its subjects
// (ingest.<t>.<dataset>,ingest.<t>.<dataset>.>) for a stream app. The
// default dataset's are the whole bucket and every subject of the tenant.
func OwnAppTopic(p *profile.Profile, d profile.Dataset, stream bool) string {
	if stream {
		return strings.Join(d.Subjects(p.Tenant), ",")
	}
	if d.Implicit() {
		return "s3:" + p.Bucket()
	}
	return "s3:" + p.Bucket() + "/" + d.Prefix()
}

func deployment(p *profile.Profile, name, image string, annotations, vars map[string]string) types.FunctionDeployment {
	labels := map[string]string{
		contract.LabelTenant: p.Tenant,
		// OpenFaaS's min is at least one replica; "may go to zero when
		// idle" is a label of our own, which only the scaler reads.
		contract.LabelScaleMin: strconv.Itoa(max(p.Scaling.Min, 1)),
		contract.LabelScaleMax: strconv.Itoa(max(p.Scaling.Max, 1)),
	}
	if p.Scaling.TargetBacklogPerReplica > 0 {
		labels[contract.LabelScaleTarget] = strconv.FormatInt(p.Scaling.TargetBacklogPerReplica, 10)
	}
	if p.Scaling.Min == 0 {
		labels[contract.LabelScaleZero] = "true"
		labels[contract.LabelScaleZeroDuration] = p.Scaling.IdleBeforeZero.String()
	}
	envVars := map[string]string{
		contract.EnvProfileSecret:     contract.ProfileSecret(p.Tenant),
		contract.EnvCredentialsSecret: contract.CredentialsSecret(p.Tenant),
	}
	for k, v := range vars {
		envVars[k] = v
	}
	return types.FunctionDeployment{
		Service:     name,
		Image:       image,
		EnvVars:     envVars,
		Secrets:     []string{contract.ProfileSecret(p.Tenant), contract.CredentialsSecret(p.Tenant)},
		Labels:      &labels,
		Annotations: &annotations,
	}
}
