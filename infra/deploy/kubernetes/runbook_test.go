package kubernetes

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	corev1 "k8s.io/api/core/v1"

	"github.com/mysimbdp/mysimbdp/infra/build/stack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// runbook is the README's Kubernetes steps: the sh block of "## Running
// on Kubernetes", one command a line (continuation lines joined).
func runbook(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(repo(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Running on Kubernetes\n")
	if !ok {
		t.Fatal(`README.md has no "## Running on Kubernetes" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "\n```sh\n")
	if !ok {
		t.Fatal("README's Kubernetes section has no sh block")
	}
	block, _, _ = strings.Cut(block, "\n```")
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(block, "\n") {
		if more, ok := strings.CutSuffix(strings.TrimRight(l, " "), `\`); ok {
			cur.WriteString(more)
			continue
		}
		cur.WriteString(l)
		lines = append(lines, strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
	}
	return lines
}

// words splits a command as sh would: quotes, $VAR and ${VAR} from vars
// (an unknown one fails), $(…) as one opaque word part, # a comment.
func words(t *testing.T, cmd string, vars map[string]string) []string {
	t.Helper()
	var out []string
	var w strings.Builder
	inWord := false
	quote := rune(0)
	rs := []rune(cmd)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteRune(c)
			}
			continue
		case c == '\'' || c == '"':
			if quote == c {
				quote = 0
			} else if quote == 0 {
				quote = c
			} else {
				w.WriteRune(c)
			}
			inWord = true
			continue
		case c == '$' && i+1 < len(rs) && rs[i+1] == '(':
			depth := 0
			for ; i < len(rs); i++ {
				if rs[i] == '(' {
					depth++
				} else if rs[i] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			w.WriteString("$(…)")
			inWord = true
			continue
		case c == '$':
			j := i + 1
			braced := j < len(rs) && rs[j] == '{'
			if braced {
				j++
			}
			k := j
			for k < len(rs) && (rs[k] == '_' || unicode.IsLetter(rs[k]) || unicode.IsDigit(rs[k])) {
				k++
			}
			name := string(rs[j:k])
			v, ok := vars[name]
			if !ok {
				t.Fatalf("runbook command %q: variable $%s, not known to this test", cmd, name)
			}
			w.WriteString(v)
			if braced {
				k++ // the closing brace
			}
			i = k - 1
			inWord = true
			continue
		case quote == 0 && c == '#' && !inWord:
			i = len(rs)
			continue
		case quote == 0 && c == ' ':
			if inWord {
				out = append(out, w.String())
				w.Reset()
				inWord = false
			}
			continue
		}
		w.WriteRune(c)
		inWord = true
	}
	if inWord {
		out = append(out, w.String())
	}
	return out
}

// TestRunbook: the README's Kubernetes steps work with this chart and
// this code. Its `helm upgrade --install mysimbdp` renders and passes the
// chart's checks; every Secret and key it reads with kubectl, and every
// rollout it waits for, is one that install makes (or the OpenFaaS
// chart's Secret the connector mounts); each namespace the chart puts an
// object in outside the release's is made by an earlier step; the image
// it installs is the one it built; every file it names exists; every flag
// it gives `mysimbdp tenant` exists.
func TestRunbook(t *testing.T) {
	lines := runbook(t)
	vars := map[string]string{"REG": "ghcr.io/acme", "MONGO_PASSWORD": "pw"}
	var install []string
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "helm upgrade --install "+release+" infra/deploy/kubernetes/"+chartDir+" ") {
			install, at = words(t, l, vars), i
		}
	}
	if install == nil {
		t.Fatalf("no `helm upgrade --install %s infra/deploy/kubernetes/%s` in the runbook", release, chartDir)
	}
	var args []string
	for i := 5; i < len(install); i++ { // after helm upgrade --install <release> <chart>
		switch a := install[i]; a {
		case "-n", "--namespace":
			if i++; install[i] != namespace {
				t.Errorf("runbook installs into namespace %s, the chart's tests (and its other steps) into %s", install[i], namespace)
			}
		case "-f", "--values":
			i++
			args = append(args, a, repo(t, install[i]))
		default:
			args = append(args, a)
		}
	}
	// On a cluster, the install copies the gateway's credentials (helm's
	// lookup of the OpenFaaS chart's Secret) into the functions' secrets;
	// helm template has no cluster: the password is given as found.
	r := render(t, append(args, "--set", "openfaas.basicAuth.password=found-in-basic-auth")...)
	checkFunctionSecrets(t, r, true)
	checkPlatformCredentials(t, r, r.deployments[release+"-connector"].Spec.Template.Spec.Containers[0].Env[1].Value,
		r.secretValue(t, namespace, release+"-mongodb", contract.EnvMongoURI))
	checkConnector(t, r)
	checkNATS(t, r, r.deployments[release+"-connector"].Spec.Template.Spec.Containers[0].Env[1].Value, []string{"tenant1", "tenant2"}, false)

	all := strings.Join(lines, "\n")
	// The connector image built and pushed in step 0 is the one installed.
	built := regexp.MustCompile(`docker build -f infra/deploy/kubernetes/Dockerfile\.connector -t (\S+)`).FindStringSubmatch(all)
	if img := r.deployments[release+"-connector"].Spec.Template.Spec.Containers[0].Image; built == nil || words(t, built[1], vars)[0] != img {
		t.Errorf("runbook builds the connector image %v, installs %s", built, img)
	}

	minioNS := ""
	for key := range r.secrets {
		if strings.HasSuffix(key, "/"+release+"-minio-notify") {
			minioNS, _, _ = strings.Cut(key, "/")
		}
	}
	gatewaySecret := r.deployments[release+"-connector"].Spec.Template.Spec.Volumes[0].Secret.SecretName
	for _, m := range regexp.MustCompile(`kubectl -n (\S+) get secret (\S+) -o jsonpath='\{\.data\.([A-Za-z0-9_-]+)\}'`).FindAllStringSubmatch(all, -1) {
		if m[2] == gatewaySecret && m[1] == namespace {
			continue // the OpenFaaS chart's (generateBasicAuth), which the connector mounts
		}
		if m[1] == minioNS && m[2] == "minio" && slices.Contains([]string{"rootUser", "rootPassword"}, m[3]) {
			continue // the MinIO chart's root user (release minio)
		}
		if _, ok := r.secrets[m[1]+"/"+m[2]]; !ok {
			t.Errorf("runbook reads Secret %s/%s, which the install does not make", m[1], m[2])
			continue
		}
		if r.secretValue(t, m[1], m[2], m[3]) == "" {
			t.Errorf("runbook reads %s from Secret %s/%s: empty", m[3], m[1], m[2])
		}
	}
	rollouts := regexp.MustCompile(`kubectl -n (\S+) rollout status (statefulset|deploy)/(\S+)`).FindAllStringSubmatch(all, -1)
	if len(rollouts) < 2 {
		t.Errorf("runbook waits for %d rollouts, want the NATS servers' and the connector's", len(rollouts))
	}
	for _, m := range rollouts {
		_, ss := r.statefulSets[m[3]]
		_, d := r.deployments[m[3]]
		if m[1] != namespace || (m[2] == "statefulset" && !ss) || (m[2] == "deploy" && !d) {
			t.Errorf("runbook waits for %s/%s in %s, which the install does not make there", m[2], m[3], m[1])
		}
	}

	// Namespaces: the release's is made by --create-namespace or the
	// OpenFaaS step; the others by a step before the install.
	made := map[string]bool{}
	for _, l := range lines[:at] {
		if m := regexp.MustCompile(`^kubectl create namespace (\S+)`).FindStringSubmatch(l); m != nil {
			made[m[1]] = true
		}
		// OpenFaaS's own (its docs' first step): openfaas and openfaas-fn.
		if strings.HasPrefix(l, "kubectl apply -f https://raw.githubusercontent.com/openfaas/faas-netes/master/namespaces.yml") {
			made["openfaas"], made["openfaas-fn"] = true, true
		}
	}
	for key := range r.secrets {
		if ns, _, _ := strings.Cut(key, "/"); ns != namespace && !made[ns] {
			t.Errorf("the install puts Secret %s in namespace %s, which no step before it makes", key, ns)
		}
	}
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "helm upgrade --install minio minio/minio -n "+minioNS+" ") && strings.Contains(l, "-f infra/deploy/kubernetes/minio-values.yaml")
	}) {
		t.Errorf("runbook installs no MinIO chart in namespace %s (where the notification settings are) with minio-values.yaml", minioNS)
	}

	// Port-forwards to this chart's Services reach a port they have.
	for _, m := range regexp.MustCompile(`kubectl -n (\S+) port-forward svc/(\S+) (\d+):(\d+)`).FindAllStringSubmatch(all, -1) {
		if !strings.HasPrefix(m[2], release+"-") {
			continue // another chart's (gateway, minio) or the operator's MongoDB
		}
		svc, ok := r.services[m[2]]
		if !ok || m[1] != namespace || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == m[4] }) {
			t.Errorf("runbook port-forwards to svc/%s port %s in %s, which the install does not serve", m[2], m[4], m[1])
		}
	}

	// The S3 endpoint the tenant's functions are given is stack.yml's
	// default (the MinIO chart's Service, release minio, in its namespace).
	st, err := stack.LoadWith(repo(t, "stack.yml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	fnS3 := ""
	if m := regexp.MustCompile(`--function-s3-endpoint (\S+)`).FindStringSubmatch(all); m != nil {
		fnS3 = m[1]
	}
	for name, fn := range st.Functions {
		if v, ok := fn.Environment[contract.EnvS3Endpoint]; ok && (v != fnS3 || v != "minio."+minioNS+":9000") {
			t.Errorf("stack.yml %s: %s=%s; the runbook gives tenants' functions %q, its MinIO is in namespace %s", name, contract.EnvS3Endpoint, v, fnS3, minioNS)
		}
	}

	// Files: every -f names one in the repository.
	for _, m := range regexp.MustCompile(`(?:^|\s)-f (\S+)`).FindAllStringSubmatch(all, -1) {
		if strings.Contains(m[1], "://") {
			continue
		}
		if _, err := os.Stat(repo(t, m[1])); err != nil {
			t.Errorf("runbook names %s: %v", m[1], err)
		}
	}

	// mysimbdp tenant's flags, as infra/cmd/mysimbdp defines them.
	var cli strings.Builder
	srcs, err := os.ReadDir(repo(t, "infra", "cmd", "mysimbdp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range srcs {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			b, err := os.ReadFile(repo(t, "infra", "cmd", "mysimbdp", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			cli.Write(b)
		}
	}
	var flags int
	for _, l := range lines {
		if !strings.HasPrefix(l, "mysimbdp tenant ") {
			continue
		}
		for _, m := range regexp.MustCompile(`(?:^|\s)--([a-z0-9-]+)`).FindAllStringSubmatch(l, -1) {
			flags++
			if !regexp.MustCompile(`Var\(&[^,]+, "` + regexp.QuoteMeta(m[1]) + `"`).MatchString(cli.String()) {
				t.Errorf("runbook gives mysimbdp tenant --%s, which infra/cmd/mysimbdp does not define", m[1])
			}
		}
	}
	if flags < 10 {
		t.Errorf("runbook gives mysimbdp tenant %d flags: expected apply's platform flags", flags)
	}
}
