package connector

import (
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
)

func TestParseSchedule(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		spec, after, want string
	}{
		{"@every 5s", "2026-11-27T10:00:03Z", "2026-11-27T10:00:05Z"},
		{"@every 5s", "2026-11-27T10:00:05Z", "2026-11-27T10:00:10Z"},
		{"@every 1m30s", "2026-11-27T10:00:00Z", "2026-11-27T10:01:30Z"},
		{"*/15 * * * *", "2026-11-27T10:07:00Z", "2026-11-27T10:15:00Z"},
		{"0 * * * *", "2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z"},
		{"30 2 * * *", "2026-11-27T10:00:00Z", "2026-11-28T02:30:00Z"},
		{"0 0 1 * *", "2026-11-27T10:00:00Z", "2026-12-01T00:00:00Z"},
		{"0 9 * * 1-5", "2026-11-27T10:00:00Z", "2026-11-30T09:00:00Z"}, // Friday -> Monday
		{"0 0 * * 7", "2026-11-27T10:00:00Z", "2026-11-29T00:00:00Z"},   // 7 is Sunday
		{"0 0 29 2 *", "2026-11-27T10:00:00Z", "2028-02-29T00:00:00Z"},
		{"5,10 1-2/1 * * *", "2026-11-27T01:07:00Z", "2026-11-27T01:10:00Z"},
		{"@daily", "2026-11-27T10:00:00Z", "2026-11-28T00:00:00Z"},
	} {
		s, err := parseSchedule(c.spec)
		if err != nil {
			t.Errorf("%q: %v", c.spec, err)
			continue
		}
		if got := s.next(at(c.after)); !got.Equal(at(c.want)) {
			t.Errorf("%q after %s = %s, want %s", c.spec, c.after, got.Format(time.RFC3339), c.want)
		}
	}
	for spec, want := range map[string]string{
		"@every 500ms":  "at least 1s",
		"@every often":  "at least 1s",
		"* * * *":       "five cron fields",
		"61 * * * *":    "minute field",
		"* * * 13 *":    "month field",
		"*/0 * * * *":   "step",
		"0 0 31 2 *":    "never fires",
		"a * * * *":     `"a" is not a number`,
		"5-1 * * * *":   "outside",
		"0 0 30-31 2 *": "never fires",
	} {
		_, err := parseSchedule(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", spec, err, want)
		}
	}
}

func TestScheduledFunctions(t *testing.T) {
	fn := func(name, topic, schedule string) types.FunctionStatus {
		ann := map[string]string{TopicAnnotation: topic}
		if schedule != "" {
			ann[ScheduleAnnotation] = schedule
		}
		return types.FunctionStatus{Name: name, Namespace: "openfaas-fn", Annotations: &ann}
	}
	got, problems := scheduledFunctions([]types.FunctionStatus{
		fn("scaler", "cron-function", "@every 2s"),
		fn("both", "s3:t1, cron-function", "*/5 * * * *"),
		fn("nosched", "cron-function", ""),
		fn("bad", "cron-function", "@every soon"),
		fn("plain", "s3:t1", "@every 1s"),
	})
	if len(got) != 2 || got["scaler.openfaas-fn"].spec != "@every 2s" || got["both.openfaas-fn"].sched == nil {
		t.Errorf("scheduled %v", got)
	}
	if len(problems) != 2 || problems["nosched.openfaas-fn"] == nil || problems["bad.openfaas-fn"] == nil {
		t.Errorf("problems %v", problems)
	}
}
