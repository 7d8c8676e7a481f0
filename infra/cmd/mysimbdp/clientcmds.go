package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openfaas/faas-provider/logs"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/invokesig"
)

func runList(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, env)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	gw, err := cf.client()
	if err != nil {
		return err
	}
	fns, err := gw.Functions(ctx, cf.namespace)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tNAMESPACE\tIMAGE\tINVOCATIONS\tREPLICAS\tAVAILABLE")
	for _, f := range fns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%d\t%d\n", f.Name, f.Namespace, f.Image, f.InvocationCount, f.Replicas, f.AvailableReplicas)
	}
	return tw.Flush()
}

func runInvoke(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, env)
	var headers headerFlags
	fs.Var(&headers, "H", "request header `Name=Value` (repeatable)")
	contentType := fs.String("content-type", "text/plain", "request Content-Type")
	pos, err := parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	gw, err := cf.client()
	if err != nil {
		return err
	}
	name := pos[0]
	if cf.namespace != "" {
		name += "." + cf.namespace
	}
	h := http.Header{"Content-Type": {*contentType}}
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, "=")
		h.Add(k, v)
	}
	var body io.Reader = os.Stdin
	// With the local platform's master key the call is signed, as the
	// connector's are: a function given its key refuses unsigned ones.
	master, err := localstack.ReadInvokeMasterKey(cf.data)
	if err != nil {
		return err
	}
	if master != "" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("invoke %s: read the body from stdin: %w", name, err)
		}
		invokesig.Sign(h, invokesig.FunctionKey([]byte(master), pos[0]), http.MethodPost, "/", "", b, time.Now())
		body = bytes.NewReader(b)
	}
	resp, err := gw.Invoke(ctx, name, body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return fmt.Errorf("invoke %s: read answer: %w", name, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("invoke %s: function answered %s", name, resp.Status)
	}
	return nil
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ",") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func runScale(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, env)
	pos, err := parse(fs, args, "NAME", "REPLICAS")
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(pos[1], 10, 64)
	if err != nil {
		return fmt.Errorf("scale: replicas %q is not a whole number ≥ 0", pos[1])
	}
	gw, err := cf.client()
	if err != nil {
		return err
	}
	if err := gw.Scale(ctx, pos[0], cf.namespace, n); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s scaled to %d replicas\n", pos[0], n)
	return nil
}

func runLogs(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clientFlags
	cf.register(fs, env)
	tail := fs.Int("tail", -1, "only the last N lines (-1: all kept)")
	follow := fs.Bool("follow", false, "keep printing new lines")
	since := fs.Duration("since", 0, "only lines newer than this (e.g. 10m)")
	pos, err := parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	gw, err := cf.client()
	if err != nil {
		return err
	}
	req := logs.Request{Name: pos[0], Namespace: cf.namespace, Tail: *tail, Follow: *follow}
	if *since > 0 {
		t := time.Now().Add(-*since)
		req.Since = &t
	}
	return gw.Logs(ctx, req, func(m logs.Message) error {
		_, err := fmt.Fprintf(stdout, "%s %s (%s) %s\n", m.Timestamp.Format(time.RFC3339), m.Name, m.Instance, m.Text)
		return err
	})
}
