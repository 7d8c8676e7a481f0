package kubernetes

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDockerfileSources: each image copies every folder of this module
// that the program it builds compiles from (packages and their embedded
// files), so a new import from elsewhere fails here, not in docker build.
func TestDockerfileSources(t *testing.T) {
	const module = "github.com/mysimbdp/mysimbdp/"
	for _, f := range []string{"Dockerfile.connector", "Dockerfile.cli"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := string(raw)
		var copied []string
		for _, m := range regexp.MustCompile(`(?m)^COPY (\S+) \./\S+$`).FindAllStringSubmatch(d, -1) {
			copied = append(copied, strings.TrimSuffix(m[1], "/")+"/")
		}
		build := regexp.MustCompile(`go build [^\n]* (\./\S+)\n`).FindStringSubmatch(d)
		if build == nil || len(copied) == 0 {
			t.Fatalf("%s: no COPY of the sources or no go build ./…: %q %v", f, build, copied)
		}
		cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", build[1])
		cmd.Dir = repo(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: go list %s: %v", f, build[1], err)
		}
		var n int
		for _, p := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(p, module)
			if !ok {
				continue
			}
			n++
			if !slices.ContainsFunc(copied, func(dir string) bool { return strings.HasPrefix(rel+"/", dir) }) {
				t.Errorf("%s builds %s, which imports %s: not among the copied %v", f, build[1], rel, copied)
			}
		}
		if n == 0 {
			t.Errorf("%s: %s uses no package of the module", f, build[1])
		}
	}
}
