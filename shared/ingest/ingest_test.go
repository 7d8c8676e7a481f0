package ingest

import (
	"strings"
	"testing"
	"time"

	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

func TestConfigFromEnv(t *testing.T) {
	full := map[string]string{
		"MYSIMBDP_PROFILE": "tenant: x", "MYSIMBDP_S3_ENDPOINT": "h:1", "MYSIMBDP_S3_ACCESS_KEY": "a",
		"MYSIMBDP_S3_SECRET_KEY": "s", "MYSIMBDP_MONGO_URI": "mongodb://h",
	}
	with := func(k, v string) func(string) string {
		return func(name string) string {
			if name == k {
				return v
			}
			return full[name]
		}
	}
	for _, tc := range []struct {
		name, key, val, wantErr string
	}{
		{"complete", "", "", ""},
		{"no profile", "MYSIMBDP_PROFILE", "", "MYSIMBDP_PROFILE is empty"},
		{"no endpoint", "MYSIMBDP_S3_ENDPOINT", "", "MYSIMBDP_S3_ENDPOINT is not set"},
		{"bad secure", "MYSIMBDP_S3_SECURE", "yes please", "MYSIMBDP_S3_SECURE"},
		{"secure", "MYSIMBDP_S3_SECURE", "true", ""},
		{"discard sink", "MYSIMBDP_SINK", "discard", ""},
		{"bad sink", "MYSIMBDP_SINK", "null", "MYSIMBDP_SINK"},
		{"no secret key", "MYSIMBDP_S3_SECRET_KEY", "", "MYSIMBDP_S3_SECRET_KEY (or AWS_SECRET_ACCESS_KEY) is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnv(with(tc.key, tc.val))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if err == nil && c.ReportSubject != contract.ReportSubjectPrefix {
				t.Errorf("defaults not applied: %+v", c)
			}
		})
	}
}

// On AWS the bucket is named by the stack, the region is known and the
// credentials are the execution role's, in AWS's own variables.
func TestConfigFromEnvOnAWS(t *testing.T) {
	vars := map[string]string{
		"MYSIMBDP_PROFILE": "tenant: x", "MYSIMBDP_S3_ENDPOINT": "s3.eu-north-1.amazonaws.com", "MYSIMBDP_S3_SECURE": "true",
		"MYSIMBDP_S3_REGION": "eu-north-1", "MYSIMBDP_S3_BUCKET": "acme-x-data", "MYSIMBDP_MONGO_URI": "mongodb://h",
		"AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "role-secret", "AWS_SESSION_TOKEN": "tok",
	}
	c, err := ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.S3AccessKey != "ASIA1" || c.S3SecretKey != "role-secret" || c.S3SessionToken != "tok" ||
		c.S3Region != "eu-north-1" || c.Bucket != "acme-x-data" || !c.S3Secure {
		t.Fatalf("config = %+v", c)
	}
	// Keys set for the function win over the role's.
	vars["MYSIMBDP_S3_ACCESS_KEY"], vars["MYSIMBDP_S3_SECRET_KEY"] = "a", "s"
	c, err = ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil || c.S3AccessKey != "a" || c.S3SecretKey != "s" || c.S3SessionToken != "" {
		t.Fatalf("config = %+v, %v", c, err)
	}
}

func TestTooLarge(t *testing.T) {
	for _, tc := range []struct {
		size  int64
		limit profile.Size
		want  string
	}{
		{5_200_000_000, 4_000_000_000, "file is 5.2 GB, over the tenant's max_file_size of 4 GB"},
		{600 << 20, 512 << 20, "file is 600 MiB, over the tenant's max_file_size of 512 MiB"},
		{4_000_000_001, 4_000_000_000, "file is 4000000001 bytes, over the tenant's max_file_size of 4000000000 bytes"},
	} {
		if got := tooLarge(tc.size, tc.limit); got != tc.want {
			t.Errorf("tooLarge(%d, %s) = %q, want %q", tc.size, tc.limit, got, tc.want)
		}
	}
}

func TestDestination(t *testing.T) {
	for _, tc := range []struct {
		key  string
		st   contract.Status
		want string
	}{
		{"incoming/a/b.csv", contract.StatusDone, "processed/a/b.csv"},
		{"incoming/b.csv", contract.StatusRejected, "rejected/b.csv"},
	} {
		if got := Destination(tc.key, tc.st); got != tc.want {
			t.Errorf("Destination(%s, %s) = %s, want %s", tc.key, tc.st, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := contract.BatchReport{Status: contract.StatusDone, RowsOK: 3, StartedAt: t0, EndedAt: t0.Add(time.Second)}
	b := contract.BatchReport{Status: contract.StatusDeferred, StartedAt: t0, EndedAt: t0.Add(2 * time.Second)}
	setRetryAfter(&b, 1500*time.Millisecond)
	s := summarize([]contract.BatchReport{a, b})
	if s.Status != contract.StatusDeferred || s.RowsOK != 3 || s.RetryAfterSeconds != 2 || len(s.Files) != 2 || s.DurationMS != 2000 {
		t.Errorf("summary %+v", s)
	}
	if one := summarize([]contract.BatchReport{a}); one.Files != nil || one.RowsOK != 3 {
		t.Errorf("one report summarised as %+v", one)
	}
}
