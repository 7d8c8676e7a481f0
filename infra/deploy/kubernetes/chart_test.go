package kubernetes

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/infra/console"
	"github.com/mysimbdp/mysimbdp/infra/local/natsd"
	"github.com/mysimbdp/mysimbdp/infra/local/tlsca"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

const (
	release   = "mysimbdp"
	namespace = "openfaas"
	chartDir  = "mysimbdp"
	// operatorMongoURI is in the Secret values-production.yaml names.
	// The values' default Secret names of tls.nats and tls.ca.
	natsTLSSecret    = "mysimbdp-nats-tls"
	caSecret         = "mysimbdp-tls-ca"
	operatorMongoURI = "mongodb://operator:pw@m-0:27017/?replicaSet=rs0"
)

// repo is the repository root, two levels up from this package.
func repo(t *testing.T, rel ...string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, rel...)...)
}

// rendered is one `helm template` output, decoded.
type rendered struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	secrets      map[string]*corev1.Secret // by namespace/name
	pdbs         map[string]*policyv1.PodDisruptionBudget
	// existing are Secrets the operator made, not the chart (by
	// namespace/name, then key): mongodb.existingSecret's.
	existing map[string]map[string]string
}

// render runs bin/helm template on the chart and decodes every object
// strictly: an unknown field, a duplicate key or an unknown kind fails.
func render(t *testing.T, args ...string) rendered {
	t.Helper()
	helm := repo(t, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("%s is missing: run ./scripts/setup (it builds helm at a pinned version): %v", helm, err)
	}
	// A helm built with go install reports Kubernetes 1.20 unless told.
	cmd := exec.Command(helm, append([]string{"template", release, chartDir, "--namespace", namespace, "--kube-version", "1.33.0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	r := rendered{deployments: map[string]*appsv1.Deployment{}, statefulSets: map[string]*appsv1.StatefulSet{},
		services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		// values-production.yaml's mongodb.existingSecret, as the
		// operator makes it.
		existing: map[string]map[string]string{namespace + "/mysimbdp-mongodb-uri": {contract.EnvMongoURI: operatorMongoURI}}}
	n := 0
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		if string(js) == "null" {
			continue // comments only
		}
		var meta struct{ APIVersion, Kind string }
		if err := json.Unmarshal(js, &meta); err != nil {
			t.Fatal(err)
		}
		var obj interface{ GetName() string }
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			d := &appsv1.Deployment{}
			obj, r.deployments[name(t, js)] = d, d
		case "apps/v1 StatefulSet":
			s := &appsv1.StatefulSet{}
			obj, r.statefulSets[name(t, js)] = s, s
		case "v1 Service":
			s := &corev1.Service{}
			obj, r.services[name(t, js)] = s, s
		case "v1 Secret":
			s := &corev1.Secret{}
			obj = s
			defer func() { r.secrets[s.Namespace+"/"+s.Name] = s }()
		case "policy/v1 PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			obj, r.pdbs[name(t, js)] = p, p
		default:
			t.Fatalf("unexpected object %s %s in the chart", meta.APIVersion, meta.Kind)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(obj); err != nil {
			t.Fatalf("%s %s does not decode strictly: %v\n%s", meta.Kind, obj.GetName(), err, doc)
		}
		n++
	}
	if n == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return r
}

func name(t *testing.T, js []byte) string {
	var m struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return m.Metadata.Name
}

// secretValue is what a Secret holds under key (stringData, as rendered).
func (r rendered) secretValue(t *testing.T, ns, name, key string) string {
	t.Helper()
	if kv, ok := r.existing[ns+"/"+name]; ok {
		if v, ok := kv[key]; ok {
			return v
		}
		t.Fatalf("the operator's Secret %s/%s has no key %s", ns, name, key)
	}
	s, ok := r.secrets[ns+"/"+name]
	if !ok {
		t.Fatalf("no Secret %s/%s", ns, name)
	}
	if v, ok := s.StringData[key]; ok {
		return v
	}
	if v, ok := s.Data[key]; ok {
		return string(v)
	}
	t.Fatalf("Secret %s/%s has no key %s", ns, name, key)
	return ""
}

// envNames are the values of shared/contract's Env* constants: every
// environment variable name the platform's code reads.
func envNames(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), repo(t, "shared", "contract", "env.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, id := range vs.Names {
			if i >= len(vs.Values) {
				break
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && strings.HasPrefix(id.Name, "Env") && lit.Kind == token.STRING {
				v, _ := strconv.Unquote(lit.Value)
				names[v] = true
			}
		}
		return true
	})
	if !names[contract.EnvNATSURL] || !names[contract.EnvGatewayURL] {
		t.Fatalf("read no environment names from shared/contract/env.go: %v", names)
	}
	return names
}

// containerEnv resolves a container's environment as the kubelet would:
// values (with $(VAR) references to earlier variables) and secretKeyRefs
// to the rendered Secrets.
func (r rendered) containerEnv(t *testing.T, ns string, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = ref.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := env[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = r.secretValue(t, ns, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "pod-0"
		default:
			t.Fatalf("%s: env %s from an unknown source", c.Name, e.Name)
		}
	}
	return env
}

func TestChart(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// functionSecrets: the OpenFaaS secrets are rendered (helm
		// template has no cluster to copy the gateway's from).
		functionSecrets bool
		natsEnabled     bool
		// jsReplicas: the connector's MYSIMBDP_JS_REPLICAS.
		jsReplicas  int
		tenants     []string
		mongoSecret bool
		// console: the connector serves the dashboard, reading MongoDB
		// at this URI.
		console string
		// tls: tls.enabled, NATS's client port and routes over TLS.
		tls bool
	}{
		{name: "default values", natsEnabled: true, jsReplicas: 3},
		{name: "production values", args: []string{"-f", "values-production.yaml"}, natsEnabled: true, jsReplicas: 3, tenants: []string{"tenant1", "tenant2"},
			console: operatorMongoURI},
		{name: "production with the gateway password and a MongoDB URI",
			args: []string{"-f", "values-production.yaml", "--set", "openfaas.basicAuth.password=gw-pass",
				"--set", "mongodb.existingSecret=", "--set-literal", "mongodb.uri=mongodb://a:b@m-0:27017,m-1:27017,m-2:27017/?replicaSet=rs0"},
			functionSecrets: true, natsEnabled: true, jsReplicas: 3, tenants: []string{"tenant1", "tenant2"}, mongoSecret: true,
			console: "mongodb://a:b@m-0:27017,m-1:27017,m-2:27017/?replicaSet=rs0"},
		{name: "production without the dashboard", args: []string{"-f", "values-production.yaml", "--set", "console.enabled=false"},
			natsEnabled: true, jsReplicas: 3, tenants: []string{"tenant1", "tenant2"}},
		{name: "production with TLS", args: []string{"-f", "values-production.yaml", "--set", "tls.enabled=true"},
			natsEnabled: true, jsReplicas: 3, tenants: []string{"tenant1", "tenant2"}, console: operatorMongoURI, tls: true},
		{name: "external NATS", args: []string{"--set", "nats.enabled=false", "--set", "nats.external.url=nats://nats.nats:4222",
			"--set", "nats.auth.platformPassword=given"}, jsReplicas: 1},
		{name: "external NATS cluster", args: []string{"--set", "nats.enabled=false", "--set", "nats.external.url=nats://nats.nats:4222",
			"--set", "nats.auth.platformPassword=given", "--set", "nats.jetstream.replicas=3"}, jsReplicas: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.args...)
			natsURL := checkConnector(t, r)
			checkJSReplicas(t, r, tc.jsReplicas)
			if tc.natsEnabled {
				checkNATS(t, r, natsURL, tc.tenants, tc.tls)
			} else if len(r.statefulSets) != 0 {
				t.Errorf("NATS disabled, yet StatefulSets %v", r.statefulSets)
			}
			checkMinIO(t, r, natsURL)
			checkTLS(t, r, natsURL, tc.tls)
			checkFunctionSecrets(t, r, tc.functionSecrets)
			checkConsole(t, r, tc.console)
			if tc.mongoSecret {
				uri := r.secretValue(t, namespace, release+"-mongodb", contract.EnvMongoURI)
				if !strings.Contains(uri, "replicaSet=") {
					t.Errorf("MongoDB URI %q", uri)
				}
				if tc.functionSecrets {
					checkPlatformCredentials(t, r, natsURL, uri)
				}
			}
		})
	}
}

// checkConnector: the connector's environment is made of names the code
// reads, read by contract.FromEnv without error or deprecation; its probes
// and port are where the connector serves them; the gateway's credentials
// are mounted where it reads them. It returns the NATS URL it uses.
func checkConnector(t *testing.T, r rendered) string {
	t.Helper()
	d, ok := r.deployments[release+"-connector"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("no connector Deployment with one container: %v", r.deployments)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("connector replicas %v, want several", d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	known := envNames(t)
	for _, e := range c.Env {
		if !known[e.Name] {
			t.Errorf("connector env %s is not a name in shared/contract", e.Name)
		}
	}
	vars := r.containerEnv(t, namespace, c)
	env, err := contract.FromEnv(func(k string) string { return vars[k] })
	if err != nil || len(env.Deprecated) > 0 {
		t.Fatalf("contract.FromEnv on the connector's env: %v, deprecated %v", err, env.Deprecated)
	}
	if env.NATSUser != natsauth.PlatformUser || env.NATSPassword == "" {
		t.Errorf("connector NATS user %q (password set: %v), want %s", env.NATSUser, env.NATSPassword != "", natsauth.PlatformUser)
	}
	if env.GatewayURL != contract.DefaultClusterGatewayURL {
		t.Errorf("connector gateway %s, want %s", env.GatewayURL, contract.DefaultClusterGatewayURL)
	}
	// The port of the metrics address, the container's and the probes'.
	_, port, err := net.SplitHostPort(env.MetricsAddr)
	if err != nil {
		t.Fatalf("metrics address %q: %v", env.MetricsAddr, err)
	}
	// The metrics port, and the dashboard's when it is on (checkConsole).
	metrics := containerPort(c, port)
	_, consolePort, _ := net.SplitHostPort(env.ConsoleAddr)
	if metrics == nil || len(c.Ports) != 1+min(len(consolePort), 1) {
		t.Fatalf("connector ports %v, want %s (and the dashboard's %q)", c.Ports, port, consolePort)
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != metrics.Name {
			t.Errorf("connector probe %+v, want GET %s on port %s", probe, want, metrics.Name)
		}
	}
	// Prometheus scrapes /metrics, where the per-tenant gauges are too.
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != port {
		t.Errorf("connector pod annotations %v, want prometheus.io/scrape true on port %s", a, port)
	}
	main, err := os.ReadFile(repo(t, "infra", "cmd", "connector", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if !bytes.Contains(main, []byte(`"GET `+path+`"`)) {
			t.Errorf("infra/cmd/connector serves no %s", path)
		}
	}
	// The gateway's credentials, as files named as the code reads them.
	var mounted bool
	for _, m := range c.VolumeMounts {
		if m.MountPath != env.SecretsDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				var paths []string
				for _, it := range v.Secret.Items {
					paths = append(paths, it.Path)
				}
				mounted = slices.Contains(paths, contract.SecretGatewayUser) && slices.Contains(paths, contract.SecretGatewayPassword)
			}
		}
	}
	if !mounted || env.SecretsDir != contract.DefaultSecretsDir {
		t.Errorf("no Secret with %s and %s mounted at %s", contract.SecretGatewayUser, contract.SecretGatewayPassword, env.SecretsDir)
	}
	if _, ok := r.pdbs[release+"-connector"]; !ok {
		t.Error("no PodDisruptionBudget for the connector")
	}
	return env.NATSURL
}

// containerPort is c's port numbered port (a decimal string), or nil.
func containerPort(c corev1.Container, port string) *corev1.ContainerPort {
	for i, p := range c.Ports {
		if strconv.Itoa(int(p.ContainerPort)) == port {
			return &c.Ports[i]
		}
	}
	return nil
}

// checkConsole: when the dashboard is on (wantURI: the MongoDB URI it must
// read), the connector has a console address, as contract.FromEnv reads
// it, with the platform's MongoDB URI (from the Secret the functions
// read), the code serves console.Prefix there, and the Service has a port
// that reaches the listener; when it is off, none of that.
func checkConsole(t *testing.T, r rendered, wantURI string) {
	t.Helper()
	d := r.deployments[release+"-connector"]
	c := d.Spec.Template.Spec.Containers[0]
	vars := r.containerEnv(t, namespace, c)
	env, err := contract.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc := r.services[release+"-connector"]
	if svc == nil {
		t.Fatal("no connector Service")
	}
	if wantURI == "" {
		if env.ConsoleAddr != "" || len(svc.Spec.Ports) != 1 {
			t.Errorf("dashboard off, yet %s=%q and Service ports %v", contract.EnvConsoleAddr, env.ConsoleAddr, svc.Spec.Ports)
		}
		return
	}
	if env.MongoURI != wantURI {
		t.Errorf("connector %s=%q, want %q", contract.EnvMongoURI, env.MongoURI, wantURI)
	}
	_, port, err := net.SplitHostPort(env.ConsoleAddr)
	if err != nil {
		t.Fatalf("dashboard: %s=%q: %v", contract.EnvConsoleAddr, env.ConsoleAddr, err)
	}
	cp := containerPort(c, port)
	if cp == nil {
		t.Fatalf("dashboard on %s, no container port %s: %v", env.ConsoleAddr, port, c.Ports)
	}
	var reached bool
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) == port && (sp.TargetPort.String() == cp.Name || sp.TargetPort.IntValue() == int(cp.ContainerPort)) {
			reached = true
		}
	}
	if !reached {
		t.Errorf("Service %s: no port %s to the dashboard's container port %s: %v", svc.Name, port, cp.Name, svc.Spec.Ports)
	}
	main, err := os.ReadFile(repo(t, "infra", "cmd", "connector", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if console.Prefix != "/ui/" || !bytes.Contains(main, []byte("mux.Handle(console.Prefix, ")) || !bytes.Contains(main, []byte("st.consoleAddr")) {
		t.Errorf("infra/cmd/connector serves no dashboard at %s on its console address", console.Prefix)
	}
}

// checkJSReplicas: the connector creates its streams and KV buckets with
// want replicas (contract.EnvJSReplicas), never more than the chart's NATS
// has servers.
func checkJSReplicas(t *testing.T, r rendered, want int) {
	t.Helper()
	c := r.deployments[release+"-connector"].Spec.Template.Spec.Containers[0]
	vars := r.containerEnv(t, namespace, c)
	env, err := contract.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if env.JSReplicas != want {
		t.Errorf("connector %s=%q: %d replicas, want %d", contract.EnvJSReplicas, vars[contract.EnvJSReplicas], env.JSReplicas, want)
	}
	if ss, ok := r.statefulSets[release+"-nats"]; ok && ss.Spec.Replicas != nil && int32(env.JSReplicas) > *ss.Spec.Replicas {
		t.Errorf("%d stream replicas on %d NATS servers", env.JSReplicas, *ss.Spec.Replicas)
	}
}

// checkNATS: the rendered nats.conf is read by nats-server's own parser
// with the pod's environment; it listens where the Services and the
// connector say, forms a cluster of every replica with JetStream on the
// volume, and has the platform user (password from the Secret) and each
// tenant's user with natsauth's permissions.
func checkNATS(t *testing.T, r rendered, natsURL string, tenants []string, withTLS bool) {
	t.Helper()
	ss, ok := r.statefulSets[release+"-nats"]
	if !ok {
		t.Fatalf("no NATS StatefulSet: %v", r.statefulSets)
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 3 {
		t.Errorf("NATS replicas %v, want 3", ss.Spec.Replicas)
	}
	c := ss.Spec.Template.Spec.Containers[0]
	checkNATSImage(t, c.Image)

	conf := r.secretValue(t, namespace, release+"-nats-config", "nats.conf")
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var cert *x509.Certificate
	if withTLS {
		// The files of the certificate's Secret, where the conf reads
		// them: test certificates in their place.
		conf, cert = natsTLSFiles(t, ss, conf)
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range r.containerEnv(t, namespace, c) {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server rejects the rendered nats.conf: %v\n%s", err, conf)
	}
	checkNATSTLS(t, opts, cert)

	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	svc := r.services[release+"-nats"]
	if svc == nil || len(svc.Spec.Ports) == 0 {
		t.Fatalf("no NATS Service with a port: %v", r.services)
	}
	if u.Hostname() != svc.Name+"."+namespace || u.Port() != strconv.Itoa(opts.Port) || int(svc.Spec.Ports[0].Port) != opts.Port {
		t.Errorf("connector's NATS %s, Service %s port %d, server port %d: they must agree", natsURL, svc.Name, svc.Spec.Ports[0].Port, opts.Port)
	}
	if len(opts.Routes) != int(*ss.Spec.Replicas) || opts.Cluster.Port == 0 || opts.Cluster.Username == "" {
		t.Errorf("cluster: %d routes for %d replicas, port %d, route user %q", len(opts.Routes), *ss.Spec.Replicas, opts.Cluster.Port, opts.Cluster.Username)
	}
	for i, route := range opts.Routes {
		want := fmt.Sprintf("%s-%d.%s.%s.svc:%d", ss.Name, i, ss.Spec.ServiceName, namespace, opts.Cluster.Port)
		if pw, _ := route.User.Password(); route.Host != want || route.User.Username() != opts.Cluster.Username || pw != opts.Cluster.Password {
			t.Errorf("route %d: %s, want %s with the cluster's own credentials", i, route.Redacted(), want)
		}
	}
	var dataMount string
	for _, m := range c.VolumeMounts {
		if len(ss.Spec.VolumeClaimTemplates) == 1 && m.Name == ss.Spec.VolumeClaimTemplates[0].Name {
			dataMount = m.MountPath
		}
	}
	if !opts.JetStream || dataMount == "" || !strings.HasPrefix(opts.StoreDir, dataMount+"/") {
		t.Errorf("JetStream %v with store %s, want it on the claimed volume at %q", opts.JetStream, opts.StoreDir, dataMount)
	}

	checkNATSAccounts(t, opts, r.secretValue(t, namespace, release+"-nats-auth", "nats-password"), tenants)
	if _, ok := r.pdbs[release+"-nats"]; !ok {
		t.Error("no PodDisruptionBudget for NATS")
	}
}

// natsTLSFiles writes a certificate, its key and the CA of a test
// authority under the names of the keys of a cert-manager Secret (tls.crt,
// tls.key, ca.crt) into a folder, and returns conf with the mount path of
// the StatefulSet's volume of the Secret tls.nats.secretName replaced by
// that folder, and the certificate: the conf must read the Secret's files
// where the StatefulSet mounts them.
func natsTLSFiles(t *testing.T, ss *appsv1.StatefulSet, conf string) (string, *x509.Certificate) {
	t.Helper()
	var mount string
	for _, v := range ss.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != natsTLSSecret {
			continue
		}
		for _, m := range ss.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.Name == v.Name {
				mount = m.MountPath
			}
		}
	}
	if mount == "" {
		t.Fatalf("the NATS StatefulSet mounts no Secret %s", natsTLSSecret)
	}
	ca, err := tlsca.Open(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("nats")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for key, from := range map[string]string{
		corev1.TLSCertKey:              filepath.Join(ca.PartDir("nats"), tlsca.CertFile),
		corev1.TLSPrivateKeyKey:        filepath.Join(ca.PartDir("nats"), tlsca.KeyFile),
		corev1.ServiceAccountRootCAKey: ca.CAFile(), // "ca.crt", cert-manager's name too
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, key), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(conf, mount+"/") {
		t.Fatalf("nats.conf reads nothing under %s, where the certificate's Secret is mounted:\n%s", mount, conf)
	}
	return strings.ReplaceAll(conf, mount+"/", dir+"/"), cert
}

// checkNATSTLS: with a certificate (tls.enabled), the server as
// nats-server reads the conf requires TLS on its client port (a
// TLSConfig is what makes nats-server require it) and on its routes, where each side verifies the other's certificate against the
// CA, serving that certificate on both; without, neither is TLS.
func checkNATSTLS(t *testing.T, opts *server.Options, cert *x509.Certificate) {
	t.Helper()
	if cert == nil {
		if opts.TLSConfig != nil || opts.Cluster.TLSConfig != nil {
			t.Errorf("tls.enabled false, yet TLS on clients %v, routes %v", opts.TLSConfig != nil, opts.Cluster.TLSConfig != nil)
		}
		return
	}
	for _, side := range []struct {
		name string
		cfg  *tls.Config
	}{{"client port", opts.TLSConfig}, {"routes", opts.Cluster.TLSConfig}} {
		if side.cfg == nil || len(side.cfg.Certificates) != 1 {
			t.Errorf("NATS %s: no TLS with one certificate: %+v", side.name, side.cfg)
			continue
		}
		if got := side.cfg.Certificates[0].Leaf; got == nil || !got.Equal(cert) {
			if len(side.cfg.Certificates[0].Certificate) == 0 || !bytes.Equal(side.cfg.Certificates[0].Certificate[0], cert.Raw) {
				t.Errorf("NATS %s serves another certificate than the Secret's tls.crt", side.name)
			}
		}
	}
	if c := opts.Cluster.TLSConfig; c != nil && (c.ClientAuth != tls.RequireAndVerifyClientCert || c.RootCAs == nil || c.ClientCAs == nil) {
		t.Errorf("NATS routes: peers not verified both ways against the CA (client auth %v, roots %v, client CAs %v)", c.ClientAuth, c.RootCAs != nil, c.ClientCAs != nil)
	}
}

// checkTLS: with tls.enabled the connector reaches NATS over tls:// and
// trusts the CA Secret's ca.crt (contract.EnvTLSCAFile, a file of the
// mounted Secret, not the servers' key), and MinIO's target connects with
// TLS verifying NATS against the CA; without, none of it.
func checkTLS(t *testing.T, r rendered, natsURL string, want bool) {
	t.Helper()
	d := r.deployments[release+"-connector"]
	c := d.Spec.Template.Spec.Containers[0]
	vars := r.containerEnv(t, namespace, c)
	env, err := contract.FromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	minio := minioNotifyEnv(t, r)
	if !want {
		if u.Scheme == "tls" || env.CAFile() != "" || minio["MINIO_NOTIFY_NATS_TLS"] == "on" {
			t.Errorf("tls.enabled false, yet NATS %s, connector CA %q, MinIO TLS %q", natsURL, env.CAFile(), minio["MINIO_NOTIFY_NATS_TLS"])
		}
		return
	}
	if u.Scheme != "tls" {
		t.Errorf("connector NATS URL %s, want tls://", natsURL)
	}
	var found bool
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != caSecret {
				continue
			}
			for _, it := range v.Secret.Items {
				found = found || (it.Key == corev1.ServiceAccountRootCAKey && filepath.Join(m.MountPath, it.Path) == env.CAFile())
			}
			if len(v.Secret.Items) != 1 {
				t.Errorf("connector mounts %v of the CA Secret, want ca.crt alone", v.Secret.Items)
			}
		}
	}
	if !found {
		t.Errorf("connector %s=%q is not the ca.crt of the mounted Secret %s", contract.EnvTLSCAFile, env.CAFile(), caSecret)
	}
	for k, v := range map[string]string{"MINIO_NOTIFY_NATS_TLS": "on", "MINIO_NOTIFY_NATS_TLS_SKIP_VERIFY": "off"} {
		if minio[k] != v {
			t.Errorf("MinIO %s=%q, want %q", k, minio[k], v)
		}
	}
	if !strings.HasPrefix(minio["MINIO_NOTIFY_NATS_CERT_AUTHORITY"], "/") {
		t.Errorf("MinIO MINIO_NOTIFY_NATS_CERT_AUTHORITY=%q, want the CA's path", minio["MINIO_NOTIFY_NATS_CERT_AUTHORITY"])
	}
}

// checkNATSAccounts checks the rendered accounts are natsauth's: each
// user in its account with its rights, and, on a real server run with
// exactly those accounts, a tenant's records and its functions' reports
// reach the platform's streams and nothing reaches another tenant's.
func checkNATSAccounts(t *testing.T, opts *server.Options, platformPassword string, tenants []string) {
	t.Helper()
	type want struct {
		account string
		perms   *server.Permissions
	}
	wants := map[string]want{natsauth.PlatformUser: {natsauth.PlatformAccount, nil}}
	for _, tn := range tenants {
		wants[natsauth.TenantUser(tn)] = want{natsauth.TenantAccount(tn), natsauth.TenantPermissions(tn)}
		wants[natsauth.FunctionUser(tn)] = want{natsauth.TenantAccount(tn), natsauth.FunctionPermissions(tn)}
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	if len(users) != len(wants) {
		t.Errorf("NATS users %v, want %v", slices.Sorted(mapsKeys(users)), slices.Sorted(mapsKeys(wants)))
	}
	for name, w := range wants {
		u := users[name]
		switch {
		case u == nil:
			t.Errorf("no NATS user %s", name)
			continue
		case u.Account == nil || u.Account.Name != w.account:
			t.Errorf("NATS user %s in account %v, want %s", name, u.Account, w.account)
		case w.perms == nil && u.Permissions != nil:
			t.Errorf("NATS user %s has permissions %+v, want every right", name, u.Permissions)
		case w.perms != nil && (u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil ||
			!slices.Equal(u.Permissions.Publish.Allow, w.perms.Publish.Allow) || !slices.Equal(u.Permissions.Subscribe.Allow, w.perms.Subscribe.Allow)):
			t.Errorf("NATS user %s permissions %+v, want pub %v sub %v", name, u.Permissions, w.perms.Publish.Allow, w.perms.Subscribe.Allow)
		}
	}
	if platform := users[natsauth.PlatformUser]; platform == nil || platform.Password != platformPassword {
		t.Errorf("platform user: want %s with the Secret's password", natsauth.PlatformUser)
	}
	if len(tenants) < 2 || t.Failed() {
		return
	}

	// The same accounts on a real server; the example hashes give way to
	// passwords this test knows.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for _, u := range opts.Users {
		u.Password = "pw-" + u.Username
	}
	ns, err := natsd.Start(ctx, natsd.Config{StoreDir: t.TempDir(), Users: opts.Users, Accounts: opts.Accounts}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("a NATS server with the chart's accounts: %v", err)
	}
	t.Cleanup(ns.Shutdown)
	connect := func(user string) jetstream.JetStream {
		nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(user, "pw-"+user))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	platform := connect(natsauth.PlatformUser)
	for _, sc := range []jetstream.StreamConfig{
		{Name: contract.TenantStream(tenants[0]), Subjects: []string{contract.TenantSubjects(tenants[0])}},
		{Name: contract.TenantStream(tenants[1]), Subjects: []string{contract.TenantSubjects(tenants[1])}},
		{Name: contract.ReportsStream, Subjects: []string{contract.ReportSubjectPrefix + ".>"}},
	} {
		if _, err := platform.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	client, fn := connect(natsauth.TenantUser(tenants[0])), connect(natsauth.FunctionUser(tenants[0]))
	if ack, err := client.Publish(ctx, contract.TenantSubjectPrefixOf(tenants[0])+"x", []byte(`{}`)); err != nil || ack.Stream != contract.TenantStream(tenants[0]) {
		t.Errorf("%s publishes its record: %+v %v", tenants[0], ack, err)
	}
	if ack, err := fn.Publish(ctx, contract.ReportSubject(contract.ReportSubjectPrefix, tenants[0]), []byte(`{}`)); err != nil || ack.Stream != contract.ReportsStream {
		t.Errorf("%s's functions publish its report: %+v %v", tenants[0], ack, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	if _, err := client.Publish(short, contract.TenantSubjectPrefixOf(tenants[1])+"x", []byte(`{}`)); err == nil {
		t.Errorf("%s's record on %s's subject was stored", tenants[0], tenants[1])
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkNATSImage: the servers run the nats-server version the code is
// tested against (go.mod), which has JetStream message schedules (2.12+).
func checkNATSImage(t *testing.T, image string) {
	t.Helper()
	gomod, err := os.ReadFile(repo(t, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github\.com/nats-io/nats-server/v2 v(\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(string(gomod))
	if m == nil {
		t.Fatal("no nats-server in go.mod")
	}
	if want := fmt.Sprintf("nats:%s.%s.%s", m[1], m[2], m[3]); !strings.HasPrefix(image, want) {
		t.Errorf("NATS image %s, want %s (go.mod's nats-server)", image, want)
	}
	if minor, _ := strconv.Atoi(m[2]); m[1] != "2" || minor < 12 {
		t.Errorf("nats-server %s.%s: message schedules need 2.12 or later", m[1], m[2])
	}
}

// checkMinIO: MinIO's default NATS target publishes to the subject the
// connector reads, as the platform user with the Secret's password, to
// the NATS the connector uses, with JetStream and a queue folder on the
// persistent volume of minio-values.yaml; its Secret is the one that
// file names.
func checkMinIO(t *testing.T, r rendered, natsURL string) {
	t.Helper()
	var mv struct {
		ExtraSecret string `json:"extraSecret"`
		MountPath   string `json:"mountPath"`
		Persistence struct {
			Enabled bool `json:"enabled"`
		} `json:"persistence"`
	}
	raw, err := os.ReadFile("minio-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &mv); err != nil {
		t.Fatal(err)
	}
	env := minioNotifyEnv(t, r)
	// The default target (no identifier suffix) is the one tenants'
	// buckets are subscribed to.
	if !strings.HasSuffix(tenant.EventsARN, ":_:nats") {
		t.Fatalf("tenant.EventsARN %s is no longer MinIO's default NATS target; name the variables after it", tenant.EventsARN)
	}
	u, _ := url.Parse(natsURL)
	want := map[string]string{
		"MINIO_NOTIFY_NATS_ENABLE":    "on",
		"MINIO_NOTIFY_NATS_ADDRESS":   u.Host,
		"MINIO_NOTIFY_NATS_SUBJECT":   contract.S3EventsSubject,
		"MINIO_NOTIFY_NATS_USERNAME":  natsauth.PlatformUser,
		"MINIO_NOTIFY_NATS_PASSWORD":  r.secretValue(t, namespace, release+"-nats-auth", "nats-password"),
		"MINIO_NOTIFY_NATS_JETSTREAM": "on",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("MinIO %s=%q, want %q", k, env[k], v)
		}
	}
	if q := env["MINIO_NOTIFY_NATS_QUEUE_DIR"]; !mv.Persistence.Enabled || !strings.HasPrefix(q, mv.MountPath+"/") {
		t.Errorf("queue_dir %q is not on MinIO's persistent volume %s", q, mv.MountPath)
	}
}

// minioNotifyEnv is the variables of MinIO's config.env in the Secret
// minio-values.yaml names.
func minioNotifyEnv(t *testing.T, r rendered) map[string]string {
	t.Helper()
	var mv struct {
		ExtraSecret string `json:"extraSecret"`
	}
	raw, err := os.ReadFile("minio-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &mv); err != nil {
		t.Fatal(err)
	}
	cfg := r.secretValue(t, "minio", mv.ExtraSecret, "config.env")
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(cfg), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		uv, err := strconv.Unquote(v)
		if !ok || err != nil {
			t.Fatalf("config.env line %q is not export NAME=\"value\"", line)
		}
		env[k] = uv
	}
	return env
}

// checkFunctionSecrets: the OpenFaaS secrets the platform's functions
// mount (stack.yml) exist in the functions' namespace under the names the
// code reads, each value under a key of its own name (as faas-cli makes).
func checkFunctionSecrets(t *testing.T, r rendered, want bool) {
	t.Helper()
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var needed []string
	for _, fn := range st.Functions {
		for _, s := range fn.Secrets {
			if !slices.Contains(needed, s) {
				needed = append(needed, s)
			}
		}
	}
	for _, s := range []string{contract.SecretGatewayUser, contract.SecretGatewayPassword} {
		if !slices.Contains(needed, s) {
			t.Errorf("stack.yml's functions do not mount %s; the chart makes it for them", s)
		}
	}
	for _, s := range needed {
		if t, ok := strings.CutSuffix(s, "-credentials"); ok && t != "mysimbdp" {
			continue // a tenant's: `mysimbdp tenant apply` makes it
		}
		_, ok := r.secrets["openfaas-fn/"+s]
		if ok != want {
			t.Errorf("OpenFaaS secret openfaas-fn/%s rendered: %v, want %v", s, ok, want)
		}
		if ok && r.secretValue(t, "openfaas-fn", s, s) == "" {
			t.Errorf("OpenFaaS secret %s is empty", s)
		}
	}
}

// TestOpenFaaSTimeouts: every timeout on the invocation path of the
// OpenFaaS chart's values is longer than the longest function a tenant or
// the platform runs (its exec_timeout), so the gateway never cuts a batch.
func TestOpenFaaSTimeouts(t *testing.T) {
	var v struct {
		Gateway struct {
			UpstreamTimeout, ReadTimeout, WriteTimeout string
		} `json:"gateway"`
		Faasnetes struct {
			ReadTimeout, WriteTimeout string
		} `json:"faasnetes"`
		QueueWorker struct {
			AckWait string `json:"ackWait"`
		} `json:"queueWorker"`
		FunctionNamespace string `json:"functionNamespace"`
		GenerateBasicAuth bool   `json:"generateBasicAuth"`
	}
	raw, err := os.ReadFile("openfaas-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &v); err != nil {
		t.Fatalf("openfaas-values.yaml: %v", err)
	}
	dur := func(what, s string) time.Duration {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s %q: %v", what, s, err)
		}
		return d
	}
	// The longest function: tenants' (tenant apply) and stack.yml's.
	var longest time.Duration
	p, err := profile.Parse([]byte("tenant: acme\nsink:\n  collection: c\n  schema:\n    - {name: a, type: string}\n"), "acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range tenant.Deployments(p, tenant.FunctionEnv{}) {
		longest = max(longest, dur(d.Service+" exec_timeout", d.EnvVars["exec_timeout"]))
	}
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for name, fn := range st.Functions {
		if s, ok := fn.Environment["exec_timeout"]; ok {
			longest = max(longest, dur(name+" exec_timeout", s))
		}
	}
	if longest < 15*time.Minute {
		t.Fatalf("longest function %s: expected the batch functions' 15m", longest)
	}
	upstream := dur("gateway.upstreamTimeout", v.Gateway.UpstreamTimeout)
	if upstream <= longest {
		t.Errorf("gateway.upstreamTimeout %s does not exceed the longest function's %s", upstream, longest)
	}
	for what, s := range map[string]string{"gateway.readTimeout": v.Gateway.ReadTimeout, "gateway.writeTimeout": v.Gateway.WriteTimeout,
		"faasnetes.readTimeout": v.Faasnetes.ReadTimeout, "faasnetes.writeTimeout": v.Faasnetes.WriteTimeout, "queueWorker.ackWait": v.QueueWorker.AckWait} {
		if d := dur(what, s); d <= upstream {
			t.Errorf("%s %s is not above gateway.upstreamTimeout %s", what, d, upstream)
		}
	}
	if v.FunctionNamespace != "openfaas-fn" || !v.GenerateBasicAuth {
		t.Errorf("functionNamespace %q (the chart's is openfaas-fn), generateBasicAuth %v (the connector mounts basic-auth)", v.FunctionNamespace, v.GenerateBasicAuth)
	}
}

// TestStackDefaults: stack.yml's functions reach NATS, by default, at the
// chart's NATS Service.
func TestStackDefaults(t *testing.T) {
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	r := render(t)
	natsURL := r.deployments[release+"-connector"].Spec.Template.Spec.Containers[0].Env[1]
	if natsURL.Name != contract.EnvNATSURL {
		t.Fatalf("second connector variable %s, want %s", natsURL.Name, contract.EnvNATSURL)
	}
	for name, fn := range st.Functions {
		if v, ok := fn.Environment[contract.EnvNATSURL]; ok && v != natsURL.Value {
			t.Errorf("stack.yml %s: %s=%s, the chart's NATS is %s", name, contract.EnvNATSURL, v, natsURL.Value)
		}
	}
}

// TestDockerfiles: the images build what scripts/setup pins: the Go of
// go.mod and the same mc.
func TestDockerfiles(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	setup, gomod := read(repo(t, "scripts", "setup")), read(repo(t, "go.mod"))
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)
	mc := regexp.MustCompile(`(?m)^MC_VERSION=(\S+)`).FindStringSubmatch(setup)
	if goVersion == nil || mc == nil {
		t.Fatal("no go version in go.mod or MC_VERSION in scripts/setup")
	}
	for _, f := range []string{"Dockerfile.connector", "Dockerfile.cli"} {
		d := read(f)
		if !strings.Contains(d, "ARG GO_VERSION="+goVersion[1]+"\n") {
			t.Errorf("%s does not build with Go %s", f, goVersion[1])
		}
		if f == "Dockerfile.cli" && !strings.Contains(d, "ARG MC_VERSION="+mc[1]+"\n") {
			t.Errorf("%s does not install mc %s", f, mc[1])
		}
	}
}
