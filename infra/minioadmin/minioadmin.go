// Package minioadmin drives MinIO's admin API (users, policies, bucket
// quotas) by running the MinIO client `mc` as a separate process.
//
// MinIO's admin client library (madmin-go) and mc are AGPL-licensed, so
// neither is linked into this module: scripts/setup builds mc at a pinned
// version into bin/mc, and this package only runs it, with --json output.
// Each run of mc gets a throw-away configuration folder (mode 0700) whose
// config.json (0600) names the server and its admin credentials, so nothing
// is written to the user's ~/.mc, and no secret is on mc's command line
// (which `ps` shows to every user) or in its environment: a user's secret
// key reaches `mc admin user add` on its standard input.
package minioadmin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mysimbdp/mysimbdp/infra/local/setupbin"
)

// alias is the name mc knows the server by, in its config.json.
const alias = "mysimbdp"

// Client runs mc against one MinIO server as its admin.
type Client struct {
	bin      string
	config   []byte // mc's config.json, naming the server as alias
	endpoint string
	ca       []byte // PEM of Config.CAFile
}

// Config says which mc to run and which server it administers.
type Config struct {
	// Binary is the mc executable (normally <repo>/bin/mc).
	Binary string
	// Endpoint is the server's host:port.
	Endpoint string
	Secure   bool
	// CAFile is a CA mc trusts besides the system's (the local platform's,
	// for a MinIO on https); empty: none.
	CAFile string
	// AccessKey and SecretKey are an admin's (the root user's) credentials.
	AccessKey, SecretKey string
}

// New checks the binary and returns a client.
func New(cfg Config) (*Client, error) {
	if err := setupbin.Check("MinIO client mc", cfg.Binary); err != nil {
		return nil, err
	}
	if cfg.Endpoint == "" || cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("minio admin: endpoint, access key and secret key are required")
	}
	scheme := "http"
	if cfg.Secure {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: cfg.Endpoint}
	var ca []byte
	if cfg.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("minio admin: read the CA: %w", err)
		}
	}
	type mcAlias struct {
		URL       string `json:"url"`
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
		API       string `json:"api"`
		Path      string `json:"path"`
	}
	config, err := json.Marshal(struct {
		Version string             `json:"version"`
		Aliases map[string]mcAlias `json:"aliases"`
	}{"10", map[string]mcAlias{alias: {URL: u.String(), AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, API: "s3v4", Path: "auto"}}})
	if err != nil {
		return nil, fmt.Errorf("minio admin: mc configuration: %w", err)
	}
	return &Client{bin: cfg.Binary, config: config, endpoint: cfg.Endpoint, ca: ca}, nil
}

// Error is mc's report of a failed command.
type Error struct {
	Op      string
	Message string
	Cause   string
	Code    string // e.g. XMinioAdminNoSuchUser, NoSuchBucket
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Cause != "" {
		msg += ": " + e.Cause
	}
	return fmt.Sprintf("minio admin %s: %s", e.Op, msg)
}

// IsNotFound reports whether err says that the user, policy or bucket
// does not exist.
func IsNotFound(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "XMinioAdminNoSuchUser", "XMinioAdminNoSuchPolicy", "NoSuchBucket", "XMinioAdminNoSuchQuotaConfiguration":
		return true
	}
	return false
}

// message is one line of mc's --json output.
type message struct {
	Status string `json:"status"`
	Error  *struct {
		Message string `json:"message"`
		Cause   struct {
			Message string `json:"message"`
			Error   struct {
				Code string `json:"Code"`
			} `json:"error"`
		} `json:"cause"`
	} `json:"error"`
}

// run runs mc with args and returns its JSON lines; out, if set, receives
// the last success line.
func (c *Client) run(ctx context.Context, op string, out any, args ...string) error {
	return c.runInput(ctx, op, out, nil, args...)
}

// runInput is run with stdin as mc's standard input.
func (c *Client) runInput(ctx context.Context, op string, out any, stdin []byte, args ...string) error {
	// MkdirTemp makes the folder 0700: only this user reads the
	// credentials in it.
	cfgDir, err := os.MkdirTemp("", "mysimbdp-mc-")
	if err != nil {
		return fmt.Errorf("minio admin %s: %w", op, err)
	}
	defer os.RemoveAll(cfgDir)
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), c.config, 0o600); err != nil {
		return fmt.Errorf("minio admin %s: write mc configuration: %w", op, err)
	}
	if c.ca != nil {
		// mc trusts every CA in <config dir>/certs/CAs besides the system's.
		cas := filepath.Join(cfgDir, "certs", "CAs")
		if err := os.MkdirAll(cas, 0o700); err != nil {
			return fmt.Errorf("minio admin %s: %w", op, err)
		}
		if err := os.WriteFile(filepath.Join(cas, "ca.crt"), c.ca, 0o600); err != nil {
			return fmt.Errorf("minio admin %s: write the CA for mc: %w", op, err)
		}
	}
	full := append([]string{"--config-dir", cfgDir, "--json", "--no-color", "--disable-pager"}, args...)
	cmd := exec.CommandContext(ctx, c.bin, full...)
	cmd.Env = mcEnv()
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var m message
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		if m.Status == "error" && m.Error != nil {
			return &Error{Op: op, Message: m.Error.Message, Cause: m.Error.Cause.Message, Code: m.Error.Cause.Error.Code}
		}
		last = append(last[:0], line...)
	}
	if runErr != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("minio admin %s: %w", op, ctx.Err())
		}
		return fmt.Errorf("minio admin %s: mc: %w: %s", op, runErr, strings.TrimSpace(stderr.String()+" "+stdout.String()))
	}
	if out != nil && last != nil {
		if err := json.Unmarshal(last, out); err != nil {
			return fmt.Errorf("minio admin %s: read mc's answer: %w", op, err)
		}
	}
	return nil
}

// mcEnv is this process's environment without MC_* variables, which would
// silently reconfigure mc (other aliases, a proxy config folder).
func mcEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MC_") {
			env = append(env, kv)
		}
	}
	return env
}

// PutUser creates the user or sets its secret key; either way it is
// enabled. Both keys go to mc on its standard input (it asks for them
// when its command line has neither), never on its command line.
func (c *Client) PutUser(ctx context.Context, accessKey, secretKey string) error {
	if strings.ContainsAny(accessKey+secretKey, "\r\n") {
		return fmt.Errorf("minio admin add user %s: a key holds a line break", accessKey)
	}
	return c.runInput(ctx, "add user "+accessKey, nil, []byte(accessKey+"\n"+secretKey+"\n"), "admin", "user", "add", alias)
}

// UserInfo is what the server says about a user.
type UserInfo struct {
	AccessKey  string `json:"accessKey"`
	PolicyName string `json:"policyName"` // comma-separated
	Status     string `json:"userStatus"`
}

// User returns a user's state; IsNotFound(err) if there is none.
func (c *Client) User(ctx context.Context, accessKey string) (UserInfo, error) {
	var u UserInfo
	err := c.run(ctx, "user info "+accessKey, &u, "admin", "user", "info", alias, accessKey)
	return u, err
}

// RemoveUser deletes a user; one that does not exist is not an error.
// Its credentials stop working at once.
func (c *Client) RemoveUser(ctx context.Context, accessKey string) error {
	err := c.run(ctx, "remove user "+accessKey, nil, "admin", "user", "remove", alias, accessKey)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// ListOnlyPolicy lets its user list every bucket and object name and
// read nothing: what the connector's sweep needs.
const ListOnlyPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Action":["s3:ListBucket","s3:GetBucketLocation","s3:ListAllMyBuckets"],"Resource":["arn:aws:s3:::*"]}]}`

// PutPolicy creates or replaces a named IAM policy document.
func (c *Client) PutPolicy(ctx context.Context, name string, doc []byte) error {
	f, err := os.CreateTemp("", "mysimbdp-policy-*.json")
	if err != nil {
		return fmt.Errorf("minio admin create policy %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(doc); err != nil {
		f.Close()
		return fmt.Errorf("minio admin create policy %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("minio admin create policy %s: %w", name, err)
	}
	return c.run(ctx, "create policy "+name, nil, "admin", "policy", "create", alias, name, filepath.Clean(f.Name()))
}

// AttachPolicy attaches a policy to a user; attaching it again is not an
// error.
func (c *Client) AttachPolicy(ctx context.Context, policy, user string) error {
	return c.run(ctx, "attach policy "+policy+" to "+user, nil, "admin", "policy", "attach", alias, policy, "--user", user)
}

// RemovePolicy deletes a policy; one that does not exist is not an error.
func (c *Client) RemovePolicy(ctx context.Context, name string) error {
	err := c.run(ctx, "remove policy "+name, nil, "admin", "policy", "rm", alias, name)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// SetQuota sets a hard quota of maxBytes on a bucket; 0 clears it. MinIO
// refuses a write that would take the bucket to its quota ("Bucket quota
// exceeded"): at once for an object bigger than the quota, and for the
// bucket's total as soon as its scanner has counted it.
func (c *Client) SetQuota(ctx context.Context, bucket string, maxBytes uint64) error {
	if maxBytes == 0 {
		return c.run(ctx, "clear quota of "+bucket, nil, "quota", "clear", alias+"/"+bucket)
	}
	return c.run(ctx, "set quota of "+bucket, nil, "quota", "set", alias+"/"+bucket, "--size", fmt.Sprint(maxBytes))
}

// Quota returns a bucket's hard quota in bytes, 0 if it has none.
func (c *Client) Quota(ctx context.Context, bucket string) (uint64, error) {
	var q struct {
		Quota uint64 `json:"quota"`
	}
	err := c.run(ctx, "quota of "+bucket, &q, "quota", "info", alias+"/"+bucket)
	return q.Quota, err
}
