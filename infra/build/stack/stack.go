// Package stack reads OpenFaaS stack files (stack.yml), the same format
// faas-cli reads, and turns their functions into the deployment requests the
// OpenFaaS gateway API takes. mysimbdp's CLI uses it so that one stack.yml
// serves both `faas-cli up` on a real OpenFaaS and `mysimbdp deploy` locally.
package stack

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/openfaas/faas-provider/types"
	"gopkg.in/yaml.v3"
)

// Stack is a parsed stack file. Field names follow faas-cli's schema.
type Stack struct {
	Version       string              `yaml:"version"`
	Provider      Provider            `yaml:"provider"`
	Functions     map[string]Function `yaml:"functions"`
	Configuration Configuration       `yaml:"configuration"`
	// Extensions are top-level keys starting with "x-", which hold YAML
	// anchors shared by functions (as in Compose files); faas-cli ignores
	// them too. Any other unknown top-level key is an error.
	Extensions map[string]any `yaml:",inline"`

	// Dir is the folder the stack file is in; handler and copy paths are
	// relative to it.
	Dir string `yaml:"-"`
}

// Provider says where the gateway is.
type Provider struct {
	Name    string `yaml:"name"`
	Gateway string `yaml:"gateway"`
	Network string `yaml:"network,omitempty"`
}

// Configuration is the stack-wide build configuration.
type Configuration struct {
	Templates []Template `yaml:"templates,omitempty"`
	// Copy lists paths copied into every function's build context (into its
	// function/ folder, as faas-cli does).
	Copy []string `yaml:"copy,omitempty"`
}

// Template names a language template and where to pull it from.
type Template struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source,omitempty"`
}

// Function is one function of the stack.
type Function struct {
	Lang                   string            `yaml:"lang"`
	Handler                string            `yaml:"handler"`
	Image                  string            `yaml:"image"`
	FProcess               string            `yaml:"fprocess,omitempty"`
	Namespace              string            `yaml:"namespace,omitempty"`
	Environment            map[string]string `yaml:"environment,omitempty"`
	EnvironmentFile        []string          `yaml:"environment_file,omitempty"`
	Secrets                []string          `yaml:"secrets,omitempty"`
	Labels                 map[string]string `yaml:"labels,omitempty"`
	Annotations            map[string]string `yaml:"annotations,omitempty"`
	Constraints            []string          `yaml:"constraints,omitempty"`
	Limits                 *Resources        `yaml:"limits,omitempty"`
	Requests               *Resources        `yaml:"requests,omitempty"`
	ReadOnlyRootFilesystem bool              `yaml:"readonly_root_filesystem,omitempty"`
	BuildArgs              map[string]string `yaml:"build_args,omitempty"`
	BuildOptions           []string          `yaml:"build_options,omitempty"`
	BuildSecrets           map[string]string `yaml:"build_secrets,omitempty"`
	Platforms              string            `yaml:"platforms,omitempty"`
	SkipBuild              bool              `yaml:"skip_build,omitempty"`
}

// Resources are a function's memory and CPU limits or requests.
type Resources struct {
	Memory string `yaml:"memory,omitempty"`
	CPU    string `yaml:"cpu,omitempty"`
}

// namePattern is OpenFaaS's rule for function names (a DNS-1123 label).
var namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidName reports whether name is an acceptable OpenFaaS function name,
// and if not, why.
func ValidName(name string) error {
	if len(name) > 63 || !namePattern.MatchString(name) {
		return fmt.Errorf("function name %q is invalid: use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// Load reads and validates the stack file at path. Environment variables in
// the file are expanded first, as faas-cli does (${VAR} and ${VAR:-default}).
func Load(path string) (*Stack, error) {
	return LoadWith(path, os.LookupEnv)
}

// LoadWith is Load with variables resolved by lookup instead of the
// process environment; the local stack uses it to hand its endpoints to
// the functions without changing its own environment.
func LoadWith(path string, lookup func(string) (string, bool)) (*Stack, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w", err)
	}
	s, err := Parse(raw, lookup)
	if err != nil {
		return nil, fmt.Errorf("stack file %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("stack file %s: %w", path, err)
	}
	s.Dir = abs
	return s, nil
}

// Parse reads a stack from its YAML text. lookup resolves environment
// variables; unknown keys are errors so that a typo is not silently ignored.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Stack, error) {
	expanded, err := expandEnv(string(raw), lookup)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(expanded)))
	dec.KnownFields(true)
	var s Stack
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Stack) validate() error {
	var errs []error
	if s.Version != "1.0" {
		errs = append(errs, fmt.Errorf("version: %q is not supported, use \"1.0\"", s.Version))
	}
	if s.Provider.Name != "openfaas" {
		errs = append(errs, fmt.Errorf("provider.name: %q is not supported, use \"openfaas\"", s.Provider.Name))
	}
	for k := range s.Extensions {
		if !strings.HasPrefix(k, "x-") {
			errs = append(errs, fmt.Errorf("%s: unknown key (extension keys must start with x-)", k))
		}
	}
	if len(s.Functions) == 0 {
		errs = append(errs, errors.New("functions: the stack has no functions"))
	}
	for _, name := range s.Names() {
		fn := s.Functions[name]
		if err := ValidName(name); err != nil {
			errs = append(errs, fmt.Errorf("functions.%s: %w", name, err))
		}
		if fn.Image == "" {
			errs = append(errs, fmt.Errorf("functions.%s.image: required", name))
		}
		if fn.Lang == "" && !fn.SkipBuild {
			errs = append(errs, fmt.Errorf("functions.%s.lang: required (e.g. golang-mysimbdp)", name))
		}
		if fn.Handler == "" && !fn.SkipBuild {
			errs = append(errs, fmt.Errorf("functions.%s.handler: required (the function's folder)", name))
		}
	}
	return errors.Join(errs...)
}

// Names returns the function names in a stable order.
func (s *Stack) Names() []string {
	names := make([]string, 0, len(s.Functions))
	for n := range s.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Deployment turns function name into the request body of
// POST/PUT /system/functions, reading its environment_file entries.
func (s *Stack) Deployment(name string) (types.FunctionDeployment, error) {
	fn, ok := s.Functions[name]
	if !ok {
		return types.FunctionDeployment{}, fmt.Errorf("function %q is not in the stack", name)
	}
	env := map[string]string{}
	for _, f := range fn.EnvironmentFile {
		fileEnv, err := readEnvironmentFile(filepath.Join(s.Dir, f))
		if err != nil {
			return types.FunctionDeployment{}, fmt.Errorf("function %s: %w", name, err)
		}
		for k, v := range fileEnv {
			env[k] = v
		}
	}
	for k, v := range fn.Environment {
		env[k] = v
	}
	d := types.FunctionDeployment{
		Service:                name,
		Image:                  fn.Image,
		Namespace:              fn.Namespace,
		EnvProcess:             fn.FProcess,
		EnvVars:                env,
		Constraints:            slices.Clone(fn.Constraints),
		Secrets:                slices.Clone(fn.Secrets),
		ReadOnlyRootFilesystem: fn.ReadOnlyRootFilesystem,
	}
	// Copies: a caller may edit its deployment without changing the stack.
	if fn.Labels != nil {
		l := maps.Clone(fn.Labels)
		d.Labels = &l
	}
	if fn.Annotations != nil {
		a := maps.Clone(fn.Annotations)
		d.Annotations = &a
	}
	if fn.Limits != nil {
		d.Limits = &types.FunctionResources{Memory: fn.Limits.Memory, CPU: fn.Limits.CPU}
	}
	if fn.Requests != nil {
		d.Requests = &types.FunctionResources{Memory: fn.Requests.Memory, CPU: fn.Requests.CPU}
	}
	return d, nil
}

// readEnvironmentFile reads a YAML file with an `environment:` map, the
// format faas-cli's environment_file takes.
func readEnvironmentFile(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read environment file: %w", err)
	}
	var f struct {
		Environment map[string]string `yaml:"environment"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("environment file %s: %w", path, err)
	}
	return f.Environment, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv substitutes ${VAR} and ${VAR:-default}. An unset variable with
// no default is an error: deploying with an empty image or gateway is worse
// than stopping.
func expandEnv(s string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := envRef.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variables not set and without default: %s", strings.Join(missing, ", "))
	}
	return out, nil
}
