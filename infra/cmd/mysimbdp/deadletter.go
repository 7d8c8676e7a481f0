package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/deadletter"
	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

const deadLetterUsage = `usage:
  mysimbdp deadletter list [TENANT]                     the dead letters, oldest first
  mysimbdp deadletter show ID                           one letter: headers and body
  mysimbdp deadletter replay ID | --tenant T | --all    back to its function, as a fresh delivery
  mysimbdp deadletter purge ID | --tenant T | --all --yes
flags (any subcommand): --json --nats URL --nats-user U --nats-password P --data DIR`

// runDeadLetter reads, replays and purges the connector's dead letters
// (infra/deadletter does the work; the dashboard shares it).
func runDeadLetter(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, deadLetterUsage)
		return errors.New("deadletter: want a subcommand: list, show, replay or purge")
	}
	verb := args[0]
	fs := flag.NewFlagSet("deadletter "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, deadLetterUsage); fs.PrintDefaults() }
	natsURL := fs.String("nats", env.NATSURL, "NATS URL (env "+contract.EnvNATSURL+"); default: the local stack's, else "+contract.DefaultNATSURL)
	natsUser := fs.String("nats-user", env.NATSUser, "NATS user with the platform's rights (env "+contract.EnvNATSUser+")")
	natsPassword := fs.String("nats-password", env.NATSPassword, "its password (env "+contract.EnvNATSPassword+")")
	data := fs.String("data", env.DataDir, "local stack data folder (env "+contract.EnvDataDir+")")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	tenant := fs.String("tenant", "", "replay or purge this tenant's letters")
	all := fs.Bool("all", false, "replay or purge every letter")
	yes := fs.Bool("yes", false, "purge: really delete")
	pos, err := parseAny(fs, args[1:])
	if err != nil {
		return err
	}

	// What the subcommand works on: the arguments must say it once.
	var id uint64
	switch verb {
	case "list":
		if len(pos) > 1 || *all {
			return fmt.Errorf("deadletter list: want at most one TENANT")
		}
		if len(pos) == 1 {
			*tenant = pos[0]
		}
	case "show", "replay", "purge":
		picked := len(pos) + btoi(*tenant != "") + btoi(*all)
		if picked != 1 || len(pos) > 1 || (verb == "show" && len(pos) != 1) {
			fs.Usage()
			return fmt.Errorf("deadletter %s: want one of ID, --tenant T, --all", verb)
		}
		if len(pos) == 1 {
			if id, err = strconv.ParseUint(pos[0], 10, 64); err != nil || id == 0 {
				return fmt.Errorf("deadletter %s: id %q is not a dead letter's number (see `mysimbdp deadletter list`)", verb, pos[0])
			}
		}
	default:
		fmt.Fprintln(stderr, deadLetterUsage)
		return fmt.Errorf("deadletter: unknown subcommand %q", verb)
	}

	url := *natsURL
	if url == "" {
		url = contract.DefaultNATSURL
		if e, err := localstack.ReadEndpoints(*data); err == nil {
			url = e.NATS // carries the platform user's credentials
		}
	}
	if *natsUser != "" {
		if url, err = natsauth.WithUser(url, *natsUser, *natsPassword); err != nil {
			return err
		}
	}
	nc, err := nats.Connect(url, append(trust.NATS(cmp.Or(env.CAFile(), localCA(*data))), nats.Name("mysimbdp-deadletter"))...)
	if err != nil {
		return fmt.Errorf("deadletter: connect to NATS %s: %w", natsauth.Redact(url), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("deadletter: JetStream: %w", err)
	}
	store := deadletter.New(js, deadletter.Config{})
	out := letterPrinter{w: stdout, json: *asJSON}

	switch verb {
	case "list":
		ls, err := store.List(ctx, *tenant)
		if err != nil {
			return err
		}
		return out.list(ls)
	case "show":
		l, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		return out.show(l)
	case "replay":
		var rs []deadletter.Replayed
		if id != 0 {
			var r deadletter.Replayed
			if r, err = store.Replay(ctx, id); err == nil {
				rs = append(rs, r)
			}
		} else {
			rs, err = store.ReplayAll(ctx, *tenant)
		}
		if len(rs) == 0 && err != nil {
			return err
		}
		if perr := out.replayed(rs); perr != nil {
			return perr
		}
		return err
	default: // purge
		if !*yes {
			var ls []deadletter.Letter
			if id != 0 {
				var l deadletter.Letter
				if l, err = store.Get(ctx, id); err != nil {
					return err
				}
				ls = append(ls, l)
			} else if ls, err = store.List(ctx, *tenant); err != nil {
				return err
			}
			if len(ls) == 0 {
				fmt.Fprintln(stdout, "no dead letters to purge")
				return nil
			}
			fmt.Fprintln(stdout, "would remove:")
			_ = out.list(ls)
			return fmt.Errorf("deadletter purge: add --yes to remove these %d dead letters", len(ls))
		}
		var ls []deadletter.Letter
		if id != 0 {
			l, err := store.Delete(ctx, id)
			if err != nil {
				return err
			}
			ls = append(ls, l)
		} else if ls, err = store.Purge(ctx, *tenant); err != nil {
			return err
		}
		return out.purged(ls)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseAny parses fs from args, flags and arguments in any order, and
// returns the arguments.
func parseAny(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// letterPrinter prints dead letters for a terminal, or as JSON.
type letterPrinter struct {
	w    io.Writer
	json bool
}

func (p letterPrinter) encode(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p letterPrinter) list(ls []deadletter.Letter) error {
	if p.json {
		return p.encode(ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(p.w, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tKIND\tWHAT\tATTEMPTS\tWHEN\tREASON")
	for _, l := range ls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", l.ID, orDash(l.Tenant), l.Kind, l.What, l.Attempts,
			l.Time.Local().Format(time.DateTime), oneLine(l.Reason, 100))
	}
	return tw.Flush()
}

func (p letterPrinter) show(l deadletter.Letter) error {
	if p.json {
		return p.encode(l)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"id", strconv.FormatUint(l.ID, 10)},
		{"when", l.Time.Local().Format(time.DateTime)},
		{"tenant", orDash(l.Tenant)},
		{"kind", string(l.Kind)},
		{"what", l.What},
		{"function", orDash(l.Function)},
		{"attempts", strconv.Itoa(l.Attempts)},
		{"last status", strconv.Itoa(l.LastStatus)},
		{"original", fmt.Sprintf("%s seq %d, subject %s", l.Stream, l.Seq, l.Subject)},
		{"reason", l.Reason},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(p.w, "headers:")
	for _, k := range slices.Sorted(maps.Keys(l.Header)) {
		for _, v := range l.Header[k] {
			fmt.Fprintf(p.w, "  %s: %s\n", k, v)
		}
	}
	fmt.Fprintf(p.w, "body (%d bytes):\n", len(l.Body))
	if printable(l.Body) {
		fmt.Fprintln(p.w, strings.TrimRight(string(l.Body), "\n"))
	} else {
		fmt.Fprint(p.w, hex.Dump(l.Body))
	}
	return nil
}

func (p letterPrinter) replayed(rs []deadletter.Replayed) error {
	if p.json {
		return p.encode(rs)
	}
	if len(rs) == 0 {
		fmt.Fprintln(p.w, "no dead letters replayed")
	}
	for _, r := range rs {
		how := fmt.Sprintf("to %s seq %d", r.Stream, r.Seq)
		if r.Duplicate {
			how = fmt.Sprintf("already there as %s seq %d (an earlier replay)", r.Stream, r.Seq)
		}
		fmt.Fprintf(p.w, "replayed dead letter %d (%s %s of %s) %s\n", r.Letter.ID, r.Letter.Kind, r.Letter.What, orDash(r.Letter.Tenant), how)
	}
	return nil
}

func (p letterPrinter) purged(ls []deadletter.Letter) error {
	if p.json {
		return p.encode(ls)
	}
	for _, l := range ls {
		fmt.Fprintf(p.w, "removed dead letter %d (%s %s of %s)\n", l.ID, l.Kind, l.What, orDash(l.Tenant))
	}
	fmt.Fprintf(p.w, "%d dead letters removed\n", len(ls))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine cuts s to n runes on one line, for a table.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// printable reports whether b reads as text.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
