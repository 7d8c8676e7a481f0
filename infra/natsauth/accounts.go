package natsauth

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// Tenant is what the server holds of a tenant's users: bcrypt hashes of
// its clients' password and of its functions' (empty: no function user
// yet, as for tenants applied before there was one).
type Tenant struct {
	Client    string `json:"client"`
	Functions string `json:"functions,omitempty"`
}

// UnmarshalJSON also reads a bare string, the client's hash, as the users
// file held it before tenants had function users.
func (t *Tenant) UnmarshalJSON(b []byte) error {
	var hash string
	if err := json.Unmarshal(b, &hash); err == nil {
		*t = Tenant{Client: hash}
		return nil
	}
	type plain Tenant
	return json.Unmarshal(b, (*plain)(t))
}

// Config is the accounts block of nats-server's configuration for the
// platform (platformPassword may be a bcrypt hash) and tenants (tenant ->
// hashes). The embedded server runs exactly this (Parse); an operator's
// NATS gets the same text.
func Config(platformPassword string, tenants map[string]Tenant) string {
	names := make([]string, 0, len(tenants))
	for t := range tenants {
		names = append(names, t)
	}
	sort.Strings(names)

	var b strings.Builder
	b.WriteString("accounts {\n")
	fmt.Fprintf(&b, "  %q: {\n    jetstream: enabled\n", PlatformAccount)
	fmt.Fprintf(&b, "    users: [\n      {user: %q, password: %q}\n    ]\n", PlatformUser, platformPassword)
	b.WriteString("    exports: [\n")
	for _, t := range names {
		b.WriteString(platformExports(t, "      "))
	}
	b.WriteString("    ]\n  }\n")
	for _, t := range names {
		b.WriteString(tenantAccount(t, tenants[t], "  "))
	}
	b.WriteString("}\n")
	return b.String()
}

// platformExports are the platform account's exports to tenant t: its
// record subjects and its reports as services (a publish from t's account
// lands in the platform's streams and the ack goes back), its reports as
// streams (to watch them). Each is for t's account alone.
func platformExports(tenant, indent string) string {
	to := fmt.Sprintf("accounts: [%q]", TenantAccount(tenant))
	var b strings.Builder
	fmt.Fprintf(&b, "%s# tenant %s\n", indent, tenant)
	for _, s := range PublishSubjects(tenant) {
		fmt.Fprintf(&b, "%s{service: %q, %s}\n", indent, s, to)
	}
	for _, s := range ReportSubjects(tenant) {
		fmt.Fprintf(&b, "%s{service: %q, %s}\n", indent, s, to)
		fmt.Fprintf(&b, "%s{stream: %q, %s}\n", indent, s, to)
	}
	return b.String()
}

// tenantAccount is tenant t's account: its users and its imports.
func tenantAccount(tenant string, h Tenant, indent string) string {
	var b strings.Builder
	in := indent + "  "
	fmt.Fprintf(&b, "%s%q: {\n%susers: [\n", indent, TenantAccount(tenant), in)
	fmt.Fprintf(&b, "%s  {user: %q, password: %q, permissions: %s}\n", in, TenantUser(tenant), h.Client, permissions(TenantPermissions(tenant)))
	if h.Functions != "" {
		fmt.Fprintf(&b, "%s  {user: %q, password: %q, permissions: %s}\n", in, FunctionUser(tenant), h.Functions, permissions(FunctionPermissions(tenant)))
	}
	fmt.Fprintf(&b, "%s]\n%simports: [\n", in, in)
	for _, s := range PublishSubjects(tenant) {
		fmt.Fprintf(&b, "%s  {service: {account: %q, subject: %q}}\n", in, PlatformAccount, s)
	}
	for _, s := range ReportSubjects(tenant) {
		fmt.Fprintf(&b, "%s  {service: {account: %q, subject: %q}}\n", in, PlatformAccount, s)
		fmt.Fprintf(&b, "%s  {stream: {account: %q, subject: %q}}\n", in, PlatformAccount, s)
	}
	fmt.Fprintf(&b, "%s]\n%s}\n", in, indent)
	return b.String()
}

func permissions(p *server.Permissions) string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return fmt.Sprintf("{publish: {allow: %s}, subscribe: {allow: %s}}", q(p.Publish.Allow), q(p.Subscribe.Allow))
}

// ConfigSnippet is tenant t's part of the configuration, for a NATS that
// mysimbdp does not manage: its account, and the platform account's
// exports to it. The Helm chart renders the same from nats.tenants.
func ConfigSnippet(tenant string, h Tenant) string {
	return fmt.Sprintf(`# mysimbdp tenant %[1]s, for a NATS mysimbdp does not manage.
# With the Helm chart (infra/deploy/kubernetes), set these values and upgrade:
#   nats.tenants.%[1]s.client: %[2]q
#   nats.tenants.%[1]s.functions: %[3]q
# Elsewhere: add to the %[4]q account's exports
%[5]s# and this account to accounts { ... }, then reload nats-server:
%[6]s`, tenant, h.Client, h.Functions, PlatformAccount, platformExports(tenant, "#   "), tenantAccount(tenant, h, ""))
}

// Parse reads a configuration made by Config into the accounts and users
// a server's options take.
func Parse(conf string) ([]*server.Account, []*server.User, error) {
	var o server.Options
	if err := o.ProcessConfigString(conf); err != nil {
		return nil, nil, fmt.Errorf("NATS accounts configuration: %w", err)
	}
	return o.Accounts, o.Users, nil
}
