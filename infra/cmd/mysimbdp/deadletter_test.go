package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/tests/harness"
)

// The command over dead letters as the connector writes them (the
// replays through a real connector are infra/deadletter's tests).
func TestDeadLetterCommand(t *testing.T) {
	ns := harness.NATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, subj := range map[string]string{contract.DeadLetterStream: contract.DeadLetterSubjectPrefix + ".>", contract.S3EventsStream: contract.S3EventsSubject} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subj}}); err != nil {
			t.Fatal(err)
		}
	}
	letter := func(tenant, key string, seq int) uint64 {
		m := nats.NewMsg(contract.DeadLetterSubject(contract.DeadLetterSubjectPrefix, tenant))
		m.Data = []byte(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"` + tenant + `"},"object":{"key":"` + key + `"}}}]}`)
		for k, v := range map[string]string{
			contract.DeadLetterHeaderSubject: contract.S3EventsSubject, contract.DeadLetterHeaderStream: contract.S3EventsStream,
			contract.DeadLetterHeaderSeq: strconv.Itoa(seq), contract.DeadLetterHeaderTenant: tenant, contract.DeadLetterHeaderAttempts: "10",
			contract.DeadLetterHeaderFunction: tenant + "-ingest.openfaas-fn", contract.DeadLetterHeaderLastStatus: "500",
			contract.DeadLetterHeaderReason: "gave up after 10 attempts: function answered 500: boom",
		} {
			m.Header.Set(k, v)
		}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	a1 := letter("t1", "incoming/a.csv", 1)
	letter("t1", "incoming/b.csv", 2)
	b1 := letter("t2", "incoming/c.csv", 3)

	cli := func(args ...string) (string, error) {
		var out, errs bytes.Buffer
		// The test's --nats first: a later one in args wins.
		err := run(ctx, append([]string{"deadletter", args[0], "--nats", ns.ClientURL()}, args[1:]...), &out, &errs)
		return out.String(), err
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    []string // in the output
		notWant []string
		err     string
	}{
		{name: "list", args: []string{"list"}, want: []string{"t1/incoming/a.csv", "t1/incoming/b.csv", "t2/incoming/c.csv", "gave up after 10"}},
		{name: "list tenant", args: []string{"list", "t2"}, want: []string{"t2/incoming/c.csv"}, notWant: []string{"t1/"}},
		{name: "show", args: []string{"show", strconv.FormatUint(a1, 10)}, want: []string{"t1-ingest.openfaas-fn", contract.DeadLetterHeaderReason + ":", `"key":"incoming/a.csv"`}},
		{name: "show unknown", args: []string{"show", "99"}, err: "dead letter 99: no such dead letter"},
		{name: "replay unknown", args: []string{"replay", "99"}, err: "no such dead letter"},
		{name: "replay two ways", args: []string{"replay", "1", "--all"}, err: "want one of ID, --tenant T, --all"},
		{name: "purge without yes", args: []string{"purge", "--tenant", "t1"}, want: []string{"would remove", "t1/incoming/a.csv"}, err: "add --yes"},
		{name: "purge t1", args: []string{"purge", "--tenant", "t1", "--yes"}, want: []string{"t1/incoming/a.csv", "t1/incoming/b.csv", "2 dead letters removed"}, notWant: []string{"t2/"}},
		{name: "t2 left", args: []string{"list"}, want: []string{"t2/incoming/c.csv"}, notWant: []string{"t1/"}},
		{name: "replay t2", args: []string{"replay", strconv.FormatUint(b1, 10)}, want: []string{"replayed dead letter " + strconv.FormatUint(b1, 10), contract.S3EventsStream + " seq 1"}},
		{name: "none left", args: []string{"list"}, want: []string{"no dead letters"}},
		{name: "password never printed", args: []string{"list", "--nats", "nats://ops:hunter2@127.0.0.1:1"}, err: "connect to NATS", notWant: []string{"hunter2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(tc.args...)
			t.Logf("output:\n%s", out)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err = %v, want %q; output:\n%s", err, tc.err, out)
			}
			all := out
			if err != nil {
				all += err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
		})
	}

	letter("t3", "incoming/d.csv", 4)
	out, err := cli("list", "--json")
	var ls []deadletter.Letter
	if err != nil || json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 1 || ls[0].Tenant != "t3" || ls[0].Kind != deadletter.KindS3 {
		t.Errorf("list --json = %v, %s", err, out)
	}
}
