package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/infra/tenant"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// runTenant is `mysimbdp tenant apply|remove|list`.
func runTenant(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	usage := func() {
		fmt.Fprint(stderr, `usage:
  mysimbdp tenant apply -f PROFILE.yaml [--adopt] [--drop-removed-data]   provision a tenant, or update it to an edited profile
                                          (--adopt: take over a database a removed tenant kept,
                                          or one that exists and is no tenant's; --drop-removed-data:
                                          drop the collections of datasets the profile no longer has)
  mysimbdp tenant remove TENANT [--keep-data] [--force]   tear a tenant down (--keep-data keeps its bucket,
                                          stream and database as its own; --force: a tenant with no stored profile)
  mysimbdp tenant list                    every tenant with its state

Run `+"`mysimbdp tenant apply -h`"+` for the endpoint flags (default: the local stack's).
`)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage()
		if len(args) == 0 {
			return errors.New("tenant: no subcommand given")
		}
		return nil
	}
	switch args[0] {
	case "apply":
		return tenantApply(ctx, env, args[1:], stdout, stderr)
	case "remove", "rm", "delete":
		return tenantRemove(ctx, env, args[1:], stdout, stderr)
	case "list", "ls":
		return tenantList(ctx, env, args[1:], stdout, stderr)
	}
	usage()
	return fmt.Errorf("tenant: unknown subcommand %q", args[0])
}

// platformFlags say where the platform's parts are, with admin
// credentials. Each defaults to the local stack of --data.
type platformFlags struct {
	gw                              clientFlags
	s3, s3User, s3Password, mc      string
	s3Secure                        bool
	natsURL, natsUser, natsPassword string
	mongoURI                        string
	fnS3, fnMongo, fnNATS           string
	fnGateway                       string
	registry                        string
	platformDB                      string
	// invokeMasterKey derives the functions' invocation keys
	// (contract.EnvInvokeMasterKey; default: the local stack's).
	invokeMasterKey string
	jsReplicas      int
	verbose         bool
}

func (f *platformFlags) register(fs *flag.FlagSet, env contract.Env) {
	f.gw.register(fs, env)
	// The admin keys of MinIO, never AWS's own variables (contract.FromEnv
	// falls back on those for functions on Lambda).
	s3User, s3Password := "", ""
	if env.IsSet(contract.EnvS3AccessKey) || env.IsSet(contract.EnvS3SecretKey) {
		s3User, s3Password = env.S3AccessKey, env.S3SecretKey
	}
	fs.StringVar(&f.s3, "s3-endpoint", env.S3Endpoint, "MinIO host:port (env "+contract.EnvS3Endpoint+"); default: the local stack's")
	fs.StringVar(&f.s3User, "s3-access-key", s3User, "MinIO admin access key (env "+contract.EnvS3AccessKey+"); default: the local stack's")
	fs.StringVar(&f.s3Password, "s3-secret-key", s3Password, "MinIO admin secret key (env "+contract.EnvS3SecretKey+"); default: the local stack's")
	fs.BoolVar(&f.s3Secure, "s3-secure", env.S3Secure, "talk HTTPS to MinIO (env "+contract.EnvS3Secure+"=true)")
	fs.StringVar(&f.mc, "mc-bin", cmp.Or(env.MCBin, filepath.Join("bin", "mc")), "MinIO client binary, built by scripts/setup (env "+contract.EnvMCBin+")")
	fs.StringVar(&f.natsURL, "nats", env.NATSURL, "NATS URL (env "+contract.EnvNATSURL+"); default: the local stack's")
	fs.StringVar(&f.natsUser, "nats-user", env.NATSUser, "NATS user with full rights (env "+contract.EnvNATSUser+")")
	fs.StringVar(&f.natsPassword, "nats-password", env.NATSPassword, "its password (env "+contract.EnvNATSPassword+")")
	fs.StringVar(&f.mongoURI, "mongo-uri", env.MongoURI, "MongoDB URI with admin rights (env "+contract.EnvMongoURI+"); default: the local stack's")
	fs.StringVar(&f.fnS3, "function-s3-endpoint", env.FunctionS3Endpoint, "MinIO host:port as functions reach it (env "+contract.EnvFunctionS3Endpoint+"); default: --s3-endpoint")
	fs.StringVar(&f.fnMongo, "function-mongo-uri", env.FunctionMongoURI, "MongoDB URI functions use (env "+contract.EnvFunctionMongoURI+"); default: --mongo-uri")
	fs.StringVar(&f.fnGateway, "function-gateway-url", env.FunctionGatewayURL, "gateway URL as functions reach it, for a tenant's quality checker (env "+contract.EnvFunctionGatewayURL+"); default: the local stack's, else "+contract.DefaultClusterGatewayURL)
	fs.StringVar(&f.fnNATS, "function-nats-url", env.FunctionNATSURL, "NATS URL with the platform user functions use (env "+contract.EnvFunctionNATSURL+"); default: --nats with --nats-user")
	fs.StringVar(&f.registry, "registry", env.Registry, "registry the platform apps' images were pushed to, e.g. ghcr.io/acme (env "+contract.EnvRegistry+"); default: Docker Hub's mysimbdp/")
	f.platformDB = env.PlatformDB
	f.invokeMasterKey = env.InvokeMasterKey
	fs.IntVar(&f.jsReplicas, "js-replicas", env.JSReplicas, "NATS servers keeping the tenant's stream (env "+contract.EnvJSReplicas+"); 3 on a three-server cluster")
	fs.BoolVar(&f.verbose, "v", false, "log each step")
}

// platform connects to every part; close the returned function when done.
func (f *platformFlags) platform(ctx context.Context, stderr io.Writer) (tenant.Platform, func(), error) {
	gw, err := f.gw.client()
	if err != nil {
		return tenant.Platform{}, nil, err
	}
	data := f.gw.data
	local, localErr := localstack.ReadEndpoints(data)
	fromLocal := func(v *string, name, localValue string) error {
		if *v != "" {
			return nil
		}
		if localErr != nil {
			return fmt.Errorf("no %s given and no local stack: %w", name, localErr)
		}
		*v = localValue
		return nil
	}
	if err := fromLocal(&f.s3, "--s3-endpoint", local.MinIO); err != nil {
		return tenant.Platform{}, nil, err
	}
	if f.s3User == "" && f.s3Password == "" {
		if localErr != nil {
			return tenant.Platform{}, nil, fmt.Errorf("no --s3-access-key/--s3-secret-key given and no local stack: %w", localErr)
		}
		creds, err := localstack.LoadOrCreateCredentials(data)
		if err != nil {
			return tenant.Platform{}, nil, err
		}
		f.s3User, f.s3Password = creds.MinIOUser, creds.MinIOPassword
	}
	if err := fromLocal(&f.natsURL, "--nats", local.NATS); err != nil {
		return tenant.Platform{}, nil, err
	}
	if f.natsUser != "" {
		if f.natsURL, err = natsauth.WithUser(f.natsURL, f.natsUser, f.natsPassword); err != nil {
			return tenant.Platform{}, nil, err
		}
	}
	if err := fromLocal(&f.mongoURI, "--mongo-uri", local.MongoURI); err != nil {
		return tenant.Platform{}, nil, err
	}
	caFile := f.gw.caFile()
	if localErr == nil && f.s3 == local.MinIO && local.MinIOSecure {
		f.s3Secure = true // the local stack's MinIO serves https
	}
	env := tenant.FunctionEnv{S3Endpoint: f.fnS3, S3Secure: f.s3Secure, MongoURI: f.fnMongo, NATSURL: f.fnNATS, Registry: f.registry, GatewayURL: f.fnGateway}
	if env.GatewayURL == "" && localErr == nil {
		env.GatewayURL = local.Gateway // local functions reach it where the CLI does
	}
	if caFile != "" {
		// The functions trust the same CA, given as a secret (on a
		// cluster, create it: see README "TLS").
		env.CASecret = contract.TLSCASecret
	}
	if env.S3Endpoint == "" {
		env.S3Endpoint = f.s3
	}
	if env.MongoURI == "" {
		env.MongoURI = f.mongoURI
	}
	if env.NATSURL == "" {
		env.NATSURL = f.natsURL
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	pl, closePl, err := localstack.PlatformFor(ctx, localstack.PlatformConfig{
		MinIOEndpoint: f.s3, MinIOUser: f.s3User, MinIOPassword: f.s3Password, MinIOSecure: f.s3Secure,
		MCBinary: f.mc, NATSURL: f.natsURL, MongoURI: f.mongoURI, CAFile: caFile, DataDir: data, FunctionEnv: env,
		InvokeMasterKey: f.invokeMasterKey,
		Log:             slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}, gw)
	pl.PlatformDB = f.platformDB
	pl.JSReplicas = f.jsReplicas
	return pl, closePl, err
}

func tenantApply(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "the tenant's profile (YAML)")
	adopt := fs.Bool("adopt", false, "take over the database the profile names when a removed tenant kept it (tenant remove --keep-data) or it exists and is no tenant's: its rows become this tenant's")
	dropRemoved := fs.Bool("drop-removed-data", false, "drop the collections (sink, its _rejected, fan-out) of datasets the profile no longer has, now or at an earlier apply; without it they are kept, rows and all")
	var pf platformFlags
	pf.register(fs, env)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		fs.Usage()
		return errors.New("tenant apply: -f PROFILE.yaml is required")
	}
	// The profile is validated before anything is contacted: a bad field
	// stops here with nothing provisioned.
	t, err := tenant.Load(*file)
	if err != nil {
		return fmt.Errorf("tenant apply: %w", err)
	}
	pl, closePl, err := pf.platform(ctx, stderr)
	if err != nil {
		return fmt.Errorf("tenant apply: %w", err)
	}
	defer closePl()
	res, err := tenant.ApplyWith(ctx, pl, t, tenant.ApplyOptions{Adopt: *adopt, DropRemovedData: *dropRemoved})
	if err != nil {
		return err
	}
	printApplied(stdout, pf, t, res, pl.Store)
	return nil
}

func printApplied(w io.Writer, pf platformFlags, t tenant.Loaded, res tenant.Result, store tenant.Store) {
	p, c := t.Profile, res.Credentials
	fns := strings.Join(res.Functions, ", ")
	if fns == "" {
		fns = "none (the tenant brings its own apps)"
	}
	fmt.Fprintf(w, "tenant %s applied\n\n", p.Tenant)
	fmt.Fprintf(w, "  S3         %s://%s  bucket %s, quota %s; upload files under %s\n", scheme(pf.s3Secure), pf.s3, p.Bucket(), p.Storage.MaxBytes, tenant.IncomingPrefix)
	fmt.Fprintf(w, "  NATS       %s  publish to %s<dataset> (stream %s), in account %s\n", withoutUser(pf.natsURL), contract.TenantSubjectPrefixOf(p.Tenant), p.StreamName(), natsauth.TenantAccount(p.Tenant))
	if len(p.Datasets) == 0 {
		fmt.Fprintf(w, "  database   %s (collection %s)\n", p.Sink.Database, p.Sink.Collection)
	} else {
		fmt.Fprintf(w, "  database   %s\n", p.Sink.Database)
	}
	fmt.Fprintf(w, "  functions  %s\n", fns)
	printDatasets(w, p)
	printRemoved(w, res)
	if !res.NATSUsersManaged {
		fmt.Fprintf(w, "\nThis NATS server's accounts are not managed by mysimbdp: add the tenant's account to its configuration and reload it:\n\n%s\n", res.NATSConfig)
	}
	file := filepath.Join(store.Dir, p.Tenant, "credentials.json")
	if !res.NewCredentials {
		fmt.Fprintf(w, "\ncredentials unchanged (shown when first applied; kept in %s)\n", file)
		if res.NewStatsToken {
			fmt.Fprintf(w, "  stats token    %s  (new: GET /function/stats with Authorization: Bearer <token> shows this tenant's stats)\n", c.StatsToken)
		}
		return
	}
	fmt.Fprintf(w, "\ncredentials (shown once; kept in %s):\n", file)
	fmt.Fprintf(w, "  S3 access key  %s\n  S3 secret key  %s\n", c.S3AccessKey, c.S3SecretKey)
	fmt.Fprintf(w, "  NATS user      %s\n  NATS password  %s\n", c.NATSUser, c.NATSPassword)
	if c.StatsToken != "" {
		fmt.Fprintf(w, "  stats token    %s  (GET /function/stats with Authorization: Bearer <token>)\n", c.StatsToken)
	}
	if res.MongoUser {
		fmt.Fprintf(w, "  MongoDB user   %s (authSource %s)\n  MongoDB pass   %s\n", c.MongoUser, p.Sink.Database, c.MongoPassword)
	} else {
		fmt.Fprintln(w, "  MongoDB        no user: the server (FerretDB v1) has no users; tenants read their data through the platform")
	}
}

// printDatasets says, per dataset, where its files and records go in,
// where its rows go, and which app takes them; for an own app, the topic
// its function must declare to get them.
func printDatasets(w io.Writer, p *profile.Profile) {
	fmt.Fprintln(w, "\ndatasets:")
	for _, d := range p.AllDatasets() {
		sink := d.Sink.Collection + " (rejected rows: " + d.Sink.Collection + profile.QuarantineSuffix + ")"
		for _, f := range d.Fanout {
			sink += fmt.Sprintf(", fan-out %s (%s)", f.Collection, f.Form)
		}
		fmt.Fprintf(w, "  %s\n", d.Name)
		fmt.Fprintf(w, "    files    %s -> %s\n", d.Prefix(), appOf(p, d, false))
		fmt.Fprintf(w, "    records  %s -> %s\n", strings.Join(d.Subjects(p.Tenant), ", "), appOf(p, d, true))
		fmt.Fprintf(w, "    rows     %s\n", sink)
	}
}

// appOf names the app that takes the dataset's files (or records): the
// platform's function, or the tenant's own with what it must declare.
func appOf(p *profile.Profile, d profile.Dataset, stream bool) string {
	app, fn := d.Apps.Batch, p.BatchFunction()
	if stream {
		app, fn = d.Apps.Stream, p.StreamFunction()
	}
	if app != profile.AppOwn {
		return "platform app (" + fn + ")"
	}
	return fmt.Sprintf("own app: deploy it with label %s=%s and annotation %s=%s",
		contract.LabelTenant, p.Tenant, contract.AnnotationTopic, tenant.OwnAppTopic(p, d, stream))
}

// printRemoved says what became of the datasets that left the profile,
// and of the platform functions no dataset uses any more.
func printRemoved(w io.Writer, res tenant.Result) {
	if len(res.RemovedDatasets) > 0 {
		fmt.Fprintln(w, "\nremoved datasets:")
	}
	for _, r := range res.RemovedDatasets {
		when := "removed"
		if r.Earlier {
			when = "removed earlier"
		}
		colls := strings.Join(r.Collections, ", ")
		switch {
		case len(r.Collections) == 0:
			fmt.Fprintf(w, "  %s (%s): nothing of its own to tear down (its collections are written by the profile's datasets)\n", r.Name, when)
		case r.Dropped:
			fmt.Fprintf(w, "  %s (%s): collections %s of database %s dropped\n", r.Name, when, colls, r.Database)
		case r.Note != "":
			fmt.Fprintf(w, "  %s (%s): collections %s of database %s kept: %s\n", r.Name, when, colls, r.Database, r.Note)
		default:
			fmt.Fprintf(w, "  %s (%s): collections %s of database %s kept, rows and all (apply with --drop-removed-data to drop them)\n", r.Name, when, colls, r.Database)
		}
	}
	if len(res.UnusedFunctions) > 0 {
		fmt.Fprintf(w, "\nno dataset uses the platform's %s any more: left deployed (remove it with faas-cli remove, or the gateway's API)\n", strings.Join(res.UnusedFunctions, ", "))
	}
}

func scheme(secure bool) string {
	if secure {
		return "https"
	}
	return "http"
}

// withoutUser drops credentials from a URL list before it is shown as a
// tenant's endpoint.
func withoutUser(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

func tenantRemove(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant remove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep-data", false, "keep the tenant's bucket, stream and database, as its own: only this tenant id, or a tenant applied with --adopt, takes them back")
	force := fs.Bool("force", false, "remove what the platform holds under a tenant id with no stored profile (never a reserved database or another tenant's)")
	var pf platformFlags
	pf.register(fs, env)
	pos, err := parse(fs, args, "TENANT")
	if err != nil {
		return err
	}
	pl, closePl, err := pf.platform(ctx, stderr)
	if err != nil {
		return fmt.Errorf("tenant remove: %w", err)
	}
	defer closePl()
	res, err := tenant.Remove(ctx, pl, pos[0], tenant.RemoveOptions{KeepData: *keep, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s removed: functions [%s], credentials revoked", pos[0], strings.Join(res.Functions, ", "))
	if *keep {
		fmt.Fprint(stdout, "; bucket, stream and database kept")
	} else {
		fmt.Fprint(stdout, "; bucket, stream and database deleted")
	}
	fmt.Fprintln(stdout)
	if !res.NATSUsersManaged {
		fmt.Fprintf(stdout, "This NATS server's accounts are not managed by mysimbdp: remove account %q and the %s account's exports to it from its configuration (with the Helm chart: nats.tenants.%s) and reload it.\n", natsauth.TenantAccount(pos[0]), natsauth.PlatformAccount, pos[0])
	}
	return nil
}

func tenantList(ctx context.Context, env contract.Env, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pf platformFlags
	pf.register(fs, env)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	pl, closePl, err := pf.platform(ctx, stderr)
	if err != nil {
		return fmt.Errorf("tenant list: %w", err)
	}
	defer closePl()
	sts, err := tenant.List(ctx, pl)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tSTATE\tBUCKET\tQUOTA\tS3 USER\tNATS USER\tSTREAM MSGS\tPAUSED\tFUNCTIONS (ready/replicas)")
	for _, s := range sts {
		state := s.State
		if len(s.Missing) > 0 {
			state += " (missing " + strings.Join(s.Missing, ", ") + ")"
		}
		stream := "-"
		if s.Stream {
			stream = fmt.Sprint(s.StreamMsgs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Tenant, state, yesNo(s.Bucket), s.QuotaBytes, yesNo(s.S3User), s.NATSUser, stream, yesNo(s.Paused), strings.Join(s.Functions, ", "))
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
