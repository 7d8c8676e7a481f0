// Package gateway is a client of the OpenFaaS gateway API (/system/* and
// /function/*). It speaks only the public API, so it works against
// mysimbdp's local provider and against any OpenFaaS-compatible gateway;
// the CLI, the connector and the scaler all use it.
package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/logs"
	"github.com/openfaas/faas-provider/types"

	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// Client calls one gateway. The zero value is not usable; use New.
type Client struct {
	base     *url.URL
	user     string
	password string
	http     *http.Client
}

// New returns a client of the gateway at baseURL (e.g.
// http://127.0.0.1:8080) using basic auth for /system/* calls.
func New(baseURL, user, password string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("gateway URL %q: want http(s)://host:port", baseURL)
	}
	return &Client{base: u, user: user, password: password, http: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second},
	}}, nil
}

// TrustCA makes the client trust the platform's CA in caFile (a gateway
// served over https:// with the platform's certificate); no-op for "".
func (c *Client) TrustCA(caFile string) error {
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok {
		return errors.New("gateway client: transport is not an *http.Transport")
	}
	if err := trust.HTTP(tr, caFile); err != nil {
		return fmt.Errorf("gateway client: %w", err)
	}
	return nil
}

// NewFromSecrets is New with the credentials read from an OpenFaaS secret
// mount (files basic-auth-user and basic-auth-password), the way OpenFaaS
// components read theirs.
func NewFromSecrets(baseURL, secretMountPath string) (*Client, error) {
	creds, err := (&auth.ReadBasicAuthFromDisk{SecretMountPath: secretMountPath}).Read()
	if err != nil {
		return nil, fmt.Errorf("read gateway credentials: %w", err)
	}
	return New(baseURL, creds.User, creds.Password)
}

// URL is the gateway's base URL.
func (c *Client) URL() string { return c.base.String() }

// APIError is a non-2xx answer of the gateway.
type APIError struct {
	Op     string
	Status int
	Body   string
}

func (e *APIError) Error() string {
	msg := strings.TrimSpace(e.Body)
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: gateway answered %d: %s", e.Op, e.Status, msg)
}

// IsNotFound reports whether err is the gateway's 404.
func IsNotFound(err error) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.request(ctx, method, path, query, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &APIError{Op: op, Status: resp.StatusCode, Body: string(msg)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, method, path string, query url.Values, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if strings.HasPrefix(path, "/system/") && c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	return c.http.Do(req)
}

func nsQuery(namespace string) url.Values {
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	return q
}

// Deploy creates or updates a function the way faas-cli does: PUT first,
// and POST when the gateway answers 404 (the function does not exist yet).
func (c *Client) Deploy(ctx context.Context, d types.FunctionDeployment) error {
	op := "deploy " + d.Service
	err := c.do(ctx, op, http.MethodPut, "/system/functions", nil, d, nil)
	if IsNotFound(err) {
		err = c.do(ctx, op, http.MethodPost, "/system/functions", nil, d, nil)
	}
	return err
}

// Functions lists the functions of a namespace ("" for the gateway's default).
func (c *Client) Functions(ctx context.Context, namespace string) ([]types.FunctionStatus, error) {
	var fns []types.FunctionStatus
	err := c.do(ctx, "list functions", http.MethodGet, "/system/functions", nsQuery(namespace), nil, &fns)
	return fns, err
}

// Function returns one function's status.
func (c *Client) Function(ctx context.Context, name, namespace string) (types.FunctionStatus, error) {
	var fn types.FunctionStatus
	err := c.do(ctx, "status of "+name, http.MethodGet, "/system/function/"+url.PathEscape(name), nsQuery(namespace), nil, &fn)
	return fn, err
}

// Namespaces lists the namespaces functions may be deployed to.
func (c *Client) Namespaces(ctx context.Context) ([]string, error) {
	var ns []string
	err := c.do(ctx, "list namespaces", http.MethodGet, "/system/namespaces", nil, nil, &ns)
	return ns, err
}

// Scale sets a function's replicas.
func (c *Client) Scale(ctx context.Context, name, namespace string, replicas uint64) error {
	req := types.ScaleServiceRequest{ServiceName: name, Namespace: namespace, Replicas: replicas}
	return c.do(ctx, fmt.Sprintf("scale %s to %d", name, replicas), http.MethodPost, "/system/scale-function/"+url.PathEscape(name), nsQuery(namespace), req, nil)
}

// Delete removes a function.
func (c *Client) Delete(ctx context.Context, name, namespace string) error {
	req := types.DeleteFunctionRequest{FunctionName: name, Namespace: namespace}
	return c.do(ctx, "delete "+name, http.MethodDelete, "/system/functions", nil, req, nil)
}

// Info returns the provider's description.
func (c *Client) Info(ctx context.Context) (types.ProviderInfo, error) {
	var info types.ProviderInfo
	err := c.do(ctx, "provider info", http.MethodGet, "/system/info", nil, nil, &info)
	return info, err
}

// SetSecret creates or updates a secret.
func (c *Client) SetSecret(ctx context.Context, s types.Secret) error {
	op := "set secret " + s.Name
	err := c.do(ctx, op, http.MethodPut, "/system/secrets", nil, s, nil)
	if IsNotFound(err) {
		err = c.do(ctx, op, http.MethodPost, "/system/secrets", nil, s, nil)
	}
	return err
}

// DeleteSecret removes a secret; one that does not exist is not an error.
func (c *Client) DeleteSecret(ctx context.Context, name, namespace string) error {
	err := c.do(ctx, "delete secret "+name, http.MethodDelete, "/system/secrets", nil, types.Secret{Name: name, Namespace: namespace}, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// Secrets lists the names of a namespace's secrets ("" for the default).
func (c *Client) Secrets(ctx context.Context, namespace string) ([]string, error) {
	var ss []types.Secret
	if err := c.do(ctx, "list secrets", http.MethodGet, "/system/secrets", nsQuery(namespace), nil, &ss); err != nil {
		return nil, err
	}
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return names, nil
}

// Invoke calls a function synchronously. name may be "fn" or
// "fn.namespace". The caller closes the answer's body; a non-2xx answer is
// returned as it is, since for a function it is part of its contract.
func (c *Client) Invoke(ctx context.Context, name string, body io.Reader, header http.Header) (*http.Response, error) {
	return c.InvokeRequest(ctx, http.MethodPost, name, "", "", body, header)
}

// InvokeRequest is Invoke with any method, a path after the function's
// (/function/<name><path>) and a raw query.
func (c *Client) InvokeRequest(ctx context.Context, method, name, path, rawQuery string, body io.Reader, header http.Header) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + "/function/" + name
	if path != "" && path != "/" {
		u.Path += "/" + strings.TrimLeft(path, "/")
	}
	u.RawQuery = rawQuery
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", name, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", name, err)
	}
	return resp, nil
}

// Logs streams a function's log messages to fn until the gateway ends the
// stream (or, with req.Follow, until ctx is done).
func (c *Client) Logs(ctx context.Context, req logs.Request, fn func(logs.Message) error) error {
	q := nsQuery(req.Namespace)
	q.Set("name", req.Name)
	if req.Instance != "" {
		q.Set("instance", req.Instance)
	}
	if req.Tail != 0 {
		q.Set("tail", strconv.Itoa(req.Tail))
	}
	q.Set("follow", strconv.FormatBool(req.Follow))
	if req.Since != nil {
		q.Set("since", req.Since.Format(time.RFC3339))
	}
	op := "logs of " + req.Name
	resp, err := c.request(ctx, http.MethodGet, "/system/logs", q, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &APIError{Op: op, Status: resp.StatusCode, Body: string(msg)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var m logs.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("%s: decode line %q: %w", op, sc.Text(), err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// Redeploy deploys function name again as it runs now, changed by edit:
// labels, annotations, environment and secrets are the status's own
// copies, so edit changes only what it sets.
func (c *Client) Redeploy(ctx context.Context, name, namespace string, edit func(*types.FunctionDeployment)) error {
	st, err := c.Function(ctx, name, namespace)
	if err != nil {
		return fmt.Errorf("redeploy %s: %w", name, err)
	}
	labels, ann := map[string]string{}, map[string]string{}
	if st.Labels != nil {
		labels = maps.Clone(*st.Labels)
	}
	if st.Annotations != nil {
		ann = maps.Clone(*st.Annotations)
	}
	d := types.FunctionDeployment{
		Service: st.Name, Image: st.Image, Namespace: st.Namespace, EnvProcess: st.EnvProcess,
		EnvVars: maps.Clone(st.EnvVars), Secrets: slices.Clone(st.Secrets), Constraints: slices.Clone(st.Constraints),
		Labels: &labels, Annotations: &ann, Limits: st.Limits, Requests: st.Requests,
		ReadOnlyRootFilesystem: st.ReadOnlyRootFilesystem,
	}
	if d.EnvVars == nil {
		d.EnvVars = map[string]string{}
	}
	edit(&d)
	if err := c.Deploy(ctx, d); err != nil {
		return fmt.Errorf("redeploy %s: %w", name, err)
	}
	return nil
}
