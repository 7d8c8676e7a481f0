// Package natsauth says who may do what on the platform's NATS: one
// platform user with every right (the connector, MinIO's event target, the
// functions, the CLI), and one user per tenant that may publish only its
// own records (ingest.<tenant>.>) and read only its own replies and
// reports. It also keeps the tenants' users of the embedded server (a file
// of bcrypt hashes) and answers the requests by which `mysimbdp tenant`
// adds and removes them at runtime.
package natsauth

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// PlatformUser is the NATS user of the platform's own parts.
const PlatformUser = "mysimbdp"

// TenantUser is the NATS user name of a tenant.
func TenantUser(tenant string) string { return "tenant-" + tenant }

// InboxPrefix is the reply-subject prefix a tenant's client must use
// (nats.go: nats.CustomInboxPrefix). Publishes to a stream get their
// JetStream ack on a reply subject; the default _INBOX.> is shared by every
// user of the account, so subscribing to it would let a tenant read the
// replies other clients get, the connector's pulled records included.
func InboxPrefix(tenant string) string { return "_INBOX_" + tenant }

// PublishSubjects are the subjects a tenant may publish to.
func PublishSubjects(tenant string) []string {
	return []string{contract.TenantSubjects(tenant)}
}

// SubscribeSubjects are the subjects a tenant may subscribe to: its own
// inbox (JetStream publish acks) and the platform's reports about it.
func SubscribeSubjects(tenant string) []string {
	reports := contract.ReportSubject(contract.ReportSubjectPrefix, tenant)
	return []string{InboxPrefix(tenant) + ".>", reports, reports + ".>"}
}

// TenantPermissions are a tenant user's rights. Everything not allowed is
// denied: other tenants' subjects, the JetStream and KV API ($JS.>), the
// platform's control and event subjects.
func TenantPermissions(tenant string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: PublishSubjects(tenant)},
		Subscribe: &server.SubjectPermission{Allow: SubscribeSubjects(tenant)},
	}
}

// Hash returns the bcrypt hash of a password, which nats-server accepts
// in place of the password itself: the server never holds a tenant's
// password in clear.
func Hash(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash NATS password: %w", err)
	}
	return string(h), nil
}

// CheckHash reports whether hash is the bcrypt hash of password.
func CheckHash(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// Users are the server's users: the platform user with every right
// (platformPassword may be a bcrypt hash), then
// each tenant of hashes (tenant -> bcrypt hash of its password) in tenant
// order.
func Users(platformPassword string, hashes map[string]string) []*server.User {
	users := []*server.User{{Username: PlatformUser, Password: platformPassword}}
	tenants := make([]string, 0, len(hashes))
	for t := range hashes {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	for _, t := range tenants {
		users = append(users, &server.User{Username: TenantUser(t), Password: hashes[t], Permissions: TenantPermissions(t)})
	}
	return users
}

// WithUser returns natsURL with user and password in it, the form nats.go,
// the connector (NATS_URL) and the functions (MYSIMBDP_NATS_URL) take.
// Every server URL of a comma-separated list gets them.
func WithUser(natsURL, user, password string) (string, error) {
	parts := strings.Split(natsURL, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("NATS URL %q: want nats://host:port", p)
		}
		u.User = url.UserPassword(user, password)
		parts[i] = u.String()
	}
	return strings.Join(parts, ","), nil
}

// ConfigSnippet is the tenant's user in nats-server's configuration
// syntax, for a production NATS that mysimbdp does not manage: add it to
// the authorization block's users and reload the server.
func ConfigSnippet(tenant, hash string) string {
	q := func(ss []string) string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	return fmt.Sprintf(`# mysimbdp tenant %s: add to authorization { users = [ ... ] } and reload nats-server
{
  user: %q
  password: %q
  permissions: {
    publish: { allow: %s }
    subscribe: { allow: %s }
  }
}
`, tenant, TenantUser(tenant), hash, q(PublishSubjects(tenant)), q(SubscribeSubjects(tenant)))
}

// Redact returns natsURL with any password replaced by "xxxxx", for logs.
func Redact(natsURL string) string {
	parts := strings.Split(natsURL, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
