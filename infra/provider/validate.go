package provider

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/mysimbdp/mysimbdp/infra/build/images"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/fnrun"
	"github.com/openfaas/faas-provider/types"
)

// dns1123Label is the OpenFaaS (Kubernetes) rule for function and
// namespace names.
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// errBadRequest marks errors that are the caller's fault (400).
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func validName(kind, name string) error {
	if name == "" {
		return badRequest("%s name is required", kind)
	}
	if len(name) > 63 || !dns1123Label.MatchString(name) {
		return badRequest("%s name %q is invalid: it must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters; regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)", kind, name)
	}
	return nil
}

// scaleBounds reads com.openfaas.scale.min/max; min defaults to 1 and max
// to -1 (no bound).
func scaleBounds(labels *map[string]string) (lo, hi int, err error) {
	lo, hi = 1, -1
	if labels == nil {
		return lo, hi, nil
	}
	parse := func(key string, dst *int) error {
		v, ok := (*labels)[key]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("label %s=%q must be a non-negative integer", key, v)
		}
		*dst = n
		return nil
	}
	if err := parse(contract.LabelScaleMin, &lo); err != nil {
		return 0, 0, err
	}
	if err := parse(contract.LabelScaleMax, &hi); err != nil {
		return 0, 0, err
	}
	if hi >= 0 && lo > hi {
		return 0, 0, badRequest("label %s=%d is greater than %s=%d", contract.LabelScaleMin, lo, contract.LabelScaleMax, hi)
	}
	return lo, hi, nil
}

// imagePath resolves an image to an executable that exists.
func (p *Provider) imagePath(ref string) (string, error) {
	path, err := images.Path(p.cfg.ImagesDir, ref)
	if err != nil {
		return "", badRequest("%v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", badRequest("image %s: no build at %s; build it with `mysimbdp deploy -f stack.yml`", ref, path)
	}
	return path, nil
}

// validateSpec checks a deployment (already namespaced) and returns the
// image's executable path.
func (p *Provider) validateSpec(spec *types.FunctionDeployment) (string, error) {
	if err := validName("function", spec.Service); err != nil {
		return "", err
	}
	if !p.namespaceExists(spec.Namespace) {
		return "", badRequest("namespace %q does not exist; create it with POST /system/namespace/%s", spec.Namespace, spec.Namespace)
	}
	if _, _, err := scaleBounds(spec.Labels); err != nil {
		return "", err
	}
	// The replica's runtime would refuse these; say so now rather than
	// crash-looping. port/host are the provider's to set.
	for _, k := range []string{"port", "host", contract.EnvSecretsDir} {
		if _, ok := spec.EnvVars[k]; ok {
			return "", badRequest("envVars: %q is set by the provider and cannot be overridden", k)
		}
	}
	if _, err := fnrun.ConfigFromEnv(func(k string) string { return spec.EnvVars[k] }); err != nil {
		return "", badRequest("envVars: %v", err)
	}
	for _, s := range spec.Secrets {
		if !secretName.MatchString(s) {
			return "", badRequest("secret name %q is invalid: it must be a DNS-1123 subdomain", s)
		}
		if _, err := os.Stat(p.secretPath(spec.Namespace, s)); err != nil {
			return "", badRequest("secret %q does not exist in namespace %q; create it with POST /system/secrets", s, spec.Namespace)
		}
	}
	return p.imagePath(spec.Image)
}

func (p *Provider) secretPath(namespace, name string) string {
	return filepath.Join(p.cfg.DataDir, "secrets", namespace, name)
}
