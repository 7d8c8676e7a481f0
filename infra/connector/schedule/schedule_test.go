package schedule

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/contract"
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
		// Names, as cron/v3 reads them.
		{"30 9 * * MON-FRI", "2026-11-27T10:00:00Z", "2026-11-30T09:30:00Z"},
		{"0 12 * * sat,SUN", "2026-11-27T10:00:00Z", "2026-11-28T12:00:00Z"},
		{"0 0 1 JAN *", "2026-11-27T10:00:00Z", "2027-01-01T00:00:00Z"},
		{"0 0 * * 5-7", "2026-11-28T10:00:00Z", "2026-11-29T00:00:00Z"}, // Saturday -> Sunday (7)
		{"@hourly", "2026-11-27T10:59:59Z", "2026-11-27T11:00:00Z"},
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
		"@every 500ms":    "at least 1s",
		"@every often":    "at least 1s",
		"* * * *":         "five cron fields",
		"61 * * * *":      "minute field",
		"* * * 13 *":      "month field",
		"*/0 * * * *":     "step",
		"0 0 31 2 *":      "never fires",
		"a * * * *":       `"a" is not a number`,
		"5-1 * * * *":     "outside",
		"0 0 30-31 2 *":   "never fires",
		"0 0 * * MON-XYZ": `"XYZ" is not a number`,
		"0 0 * FOO *":     `"FOO" is not a number`,
	} {
		_, err := parseSchedule(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", spec, err, want)
		}
	}
}

func TestScheduledFunctions(t *testing.T) {
	fn := func(name, topic, schedule string) types.FunctionStatus {
		ann := map[string]string{contract.AnnotationTopic: topic}
		if schedule != "" {
			ann[contract.AnnotationSchedule] = schedule
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

// fakeClock stands still until a schedule loop sleeps, then jumps to the
// time it sleeps until: the loop's ticks are computed from a fixed start.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) bool {
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err() == nil
}

// TestTicksFireOnTheirMinute: from a fixed Friday morning, a schedule with
// day names fires on the minutes it names and skips the weekend, and
// @every stays on fixed multiples of its interval.
func TestTicksFireOnTheirMinute(t *testing.T) {
	for _, c := range []struct {
		spec, start string
		want        []string
	}{
		{"30 9 * * MON-FRI", "2026-11-27T09:30:00Z", []string{"2026-11-30T09:30:00Z", "2026-12-01T09:30:00Z", "2026-12-02T09:30:00Z"}},
		{"*/20 8 * * SAT", "2026-11-27T10:00:00Z", []string{"2026-11-28T08:00:00Z", "2026-11-28T08:20:00Z", "2026-11-28T08:40:00Z"}},
		// 10:00:05 is a multiple of 7s since Go's zero time, what
		// time.Truncate counts from.
		{"@every 7s", "2026-11-27T10:00:03.5Z", []string{"2026-11-27T10:00:05Z", "2026-11-27T10:00:12Z", "2026-11-27T10:00:19Z"}},
	} {
		s, err := parseSchedule(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		start, _ := time.Parse(time.RFC3339Nano, c.start)
		clk := &fakeClock{now: start}
		ctx, cancel := context.WithCancel(context.Background())
		var fired []string
		ticks(ctx, clk, s, func(tick time.Time) {
			fired = append(fired, tick.UTC().Format(time.RFC3339))
			if len(fired) == len(c.want) {
				cancel()
			}
		})
		cancel()
		if strings.Join(fired, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q from %s fired at %v, want %v", c.spec, c.start, fired, c.want)
		}
	}
}
