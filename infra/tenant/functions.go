package tenant

import (
	"strconv"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// The images of the platform's generic ingest apps (built from
// functions/batch-ingest and functions/stream-ingest, see
// platform-apps.yml).
const (
	BatchImage  = "mysimbdp/batch-ingest:latest"
	StreamImage = "mysimbdp/stream-ingest:latest"
)

// FunctionEnv is where a tenant's functions find the platform's parts, as
// the functions (not the CLI) reach them: on a cluster these are service
// names, locally the stack's endpoints.
type FunctionEnv struct {
	S3Endpoint string
	S3Secure   bool
	MongoURI   string
	// NATSURL carries the platform user's credentials: the functions
	// publish reports to mysimbdp.reports.<tenant>.
	NATSURL string
}

// Deployments are the functions `tenant apply` deploys for the tenant: its
// batch and stream apps, the platform's generic ones, unless the profile
// says the tenant brings its own (apps.batch / apps.stream: own). They have
// the shape stack.yml gives functions: the tenant label, the topic
// annotation, the profile as a secret, and the tenant's own S3 credentials,
// so that a function reaches only its tenant's bucket.
func Deployments(p *profile.Profile, env FunctionEnv, c Credentials) []types.FunctionDeployment {
	var out []types.FunctionDeployment
	if p.Apps.Batch != profile.AppOwn {
		out = append(out, deployment(p, env, c, p.BatchFunction(), BatchImage,
			map[string]string{contract.AnnotationTopic: "s3:" + p.Bucket()},
			map[string]string{
				"MYSIMBDP_S3_ENDPOINT":   env.S3Endpoint,
				"MYSIMBDP_S3_ACCESS_KEY": c.S3AccessKey,
				"MYSIMBDP_S3_SECRET_KEY": c.S3SecretKey,
				"MYSIMBDP_S3_SECURE":     strconv.FormatBool(env.S3Secure),
				// A file may take minutes; the connector keeps the event in progress.
				"read_timeout":  "15m",
				"write_timeout": "15m",
				"exec_timeout":  "15m",
			}))
	}
	if p.Apps.Stream != profile.AppOwn {
		out = append(out, deployment(p, env, c, p.StreamFunction(), StreamImage,
			map[string]string{
				contract.AnnotationTopic:    p.StreamSubject(),
				"com.mysimbdp.batch-size":   "100",
				"com.mysimbdp.batch-window": "20ms",
				"com.mysimbdp.max-inflight": "2",
			},
			map[string]string{
				"read_timeout":  "1m",
				"write_timeout": "1m",
				"exec_timeout":  "1m",
			}))
	}
	return out
}

func deployment(p *profile.Profile, env FunctionEnv, c Credentials, name, image string, annotations, vars map[string]string) types.FunctionDeployment {
	labels := map[string]string{
		contract.LabelTenant: p.Tenant,
		// OpenFaaS's min is at least one replica; "may go to zero when
		// idle" is its own label, which the scaler reads.
		"com.openfaas.scale.min": strconv.Itoa(max(p.Scaling.Min, 1)),
		"com.openfaas.scale.max": strconv.Itoa(max(p.Scaling.Max, 1)),
	}
	if p.Scaling.TargetBacklogPerReplica > 0 {
		labels["com.openfaas.scale.target"] = strconv.FormatInt(p.Scaling.TargetBacklogPerReplica, 10)
	}
	if p.Scaling.Min == 0 {
		labels["com.openfaas.scale.zero"] = "true"
		labels["com.openfaas.scale.zero-duration"] = p.Scaling.IdleBeforeZero.String()
	}
	envVars := map[string]string{
		"MYSIMBDP_MONGO_URI":      env.MongoURI,
		"MYSIMBDP_NATS_URL":       env.NATSURL,
		"MYSIMBDP_PROFILE_SECRET": ProfileSecret(p.Tenant),
	}
	for k, v := range vars {
		envVars[k] = v
	}
	return types.FunctionDeployment{
		Service:     name,
		Image:       image,
		EnvVars:     envVars,
		Secrets:     []string{ProfileSecret(p.Tenant)},
		Labels:      &labels,
		Annotations: &annotations,
	}
}
