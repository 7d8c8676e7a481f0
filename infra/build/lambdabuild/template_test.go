package lambdabuild

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mysimbdp/mysimbdp/shared/ingest"
	"github.com/mysimbdp/mysimbdp/shared/lambdafn"
	"github.com/mysimbdp/mysimbdp/shared/streamingest"
)

// The SAM template must deploy what this package builds, the way the
// functions read their environment: a rename on either side fails here
// rather than in a deployment.
func TestSAMTemplateMatchesBuildAndCode(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/lambda/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// CloudFormation's short tags (!Ref, !Sub, !If) decode as their
	// operands, which is all this test looks at.
	var tmpl map[string]any
	if err := yaml.Unmarshal(raw, &tmpl); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	globals := dig(t, tmpl, "Globals", "Function").(map[string]any)
	if globals["Runtime"] != "provided.al2023" || globals["Handler"] != "bootstrap" {
		t.Errorf("Globals.Function: runtime %v, handler %v; want provided.al2023 and bootstrap", globals["Runtime"], globals["Handler"])
	}

	// Every variable the template sets is one the functions read.
	read := map[string]bool{}
	record := func(k string) string { read[k] = true; return "" }
	_, _ = ingest.ConfigFromEnv(record)
	_, _ = streamingest.ConfigFromEnv(record)
	lambdafn.OptionsFromEnv(record, nil)
	vars := map[string]any{}
	for k, v := range dig(t, globals, "Environment", "Variables").(map[string]any) {
		vars[k] = v
	}

	fns := map[string]string{"BatchIngestFunction": "batch-ingest", "StreamIngestFunction": "stream-ingest"}
	for res, fn := range fns {
		props := dig(t, tmpl, "Resources", res, "Properties").(map[string]any)
		key := dig(t, props, "CodeUri", "Key").([]any)[0].(string)
		if !strings.HasSuffix(key, "${GoArch}/"+fn+".zip") {
			t.Errorf("%s's code is %s, want the build's <goarch>/%s.zip", res, key, fn)
		}
		if env, ok := props["Environment"]; ok {
			for k, v := range dig(t, env, "Variables").(map[string]any) {
				vars[k] = v
			}
		}
	}
	for k := range vars {
		if strings.HasPrefix(k, "MYSIMBDP_") && !read[k] {
			t.Errorf("the template sets %s, which no function reads", k)
		}
	}
	for _, k := range []string{"MYSIMBDP_TENANT", "MYSIMBDP_PROFILE", "MYSIMBDP_MONGO_URI", "MYSIMBDP_S3_ENDPOINT", "MYSIMBDP_S3_BUCKET"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("the template does not set %s", k)
		}
	}

	upload := dig(t, tmpl, "Resources", "BatchIngestFunction", "Properties", "Events", "Upload", "Properties").(map[string]any)
	rules := dig(t, upload, "Filter", "S3Key", "Rules").([]any)
	if len(rules) != 1 || dig(t, rules[0], "Value") != ingest.IncomingPrefix {
		t.Errorf("S3 trigger rules %v, want prefix %s", rules, ingest.IncomingPrefix)
	}
	sqs := dig(t, tmpl, "Resources", "StreamIngestFunction", "Properties", "Events", "Records", "Properties").(map[string]any)
	if rt, _ := sqs["FunctionResponseTypes"].([]any); !slices.Contains(rt, any("ReportBatchItemFailures")) {
		t.Errorf("SQS trigger FunctionResponseTypes = %v, want ReportBatchItemFailures", sqs["FunctionResponseTypes"])
	}
}

func dig(t *testing.T, v any, path ...string) any {
	t.Helper()
	for i, p := range path {
		m, ok := v.(map[string]any)
		if !ok || m[p] == nil {
			t.Fatalf("template.yaml has no %s", strings.Join(path[:i+1], "."))
		}
		v = m[p]
	}
	return v
}
