// Package natsauth says who may do what on the platform's NATS. Every
// tenant has an account of its own; the platform's streams, KV buckets,
// events and reports live in the platform account. A tenant's account
// imports from the platform exactly its own record subjects
// (ingest.<tenant>.>, as a service, so JetStream's acks come back) and its
// own reports (as a stream, to watch; as a service, for its functions to
// publish). Nothing else crosses: a tenant's replies, inboxes and acks stay
// in its account, and it cannot reach the JetStream API, the KV buckets or
// another tenant at all.
//
// The package renders that as nats-server configuration (Config), which the
// embedded server of the local stack runs (Parse) and which `mysimbdp
// tenant apply` prints for a NATS it does not manage. It also keeps the
// tenants' users of the embedded server (a file of bcrypt hashes) and
// answers the requests by which `mysimbdp tenant` adds and removes them at
// runtime.
package natsauth

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// PlatformAccount holds the platform's parts and everything JetStream
// keeps; PlatformUser is their user, with every right in it.
const (
	PlatformAccount = "MYSIMBDP"
	PlatformUser    = "mysimbdp"
)

// TenantAccount is the account of tenant t.
func TenantAccount(tenant string) string { return "TENANT_" + tenant }

// TenantUser is the NATS user name of a tenant's own clients.
func TenantUser(tenant string) string { return "tenant-" + tenant }

// FunctionUser is the NATS user of a tenant's functions, in the tenant's
// account: it may only publish the tenant's reports. A tenant's own app
// can read it from its secret, and it reaches nothing else.
func FunctionUser(tenant string) string { return "fn-" + tenant }

// InboxPrefix is the reply-subject prefix tenants' clients were once told
// to use (nats.CustomInboxPrefix). Each tenant has its own account now, so
// the default _INBOX.> is its own; the old prefix is still allowed, so
// clients configured with it keep working.
func InboxPrefix(tenant string) string { return "_INBOX_" + tenant }

// PublishSubjects are the subjects a tenant's clients may publish to.
func PublishSubjects(tenant string) []string {
	return []string{contract.TenantSubjects(tenant)}
}

// ReportSubjects are the subjects of tenant t's reports.
func ReportSubjects(tenant string) []string {
	reports := contract.ReportSubject(contract.ReportSubjectPrefix, tenant)
	return []string{reports, reports + ".>"}
}

// SubscribeSubjects are the subjects a tenant's clients may subscribe to:
// inboxes (JetStream publish acks) and the platform's reports about it.
func SubscribeSubjects(tenant string) []string {
	return append([]string{"_INBOX.>", InboxPrefix(tenant) + ".>"}, ReportSubjects(tenant)...)
}

// TenantPermissions are a tenant's clients' rights in its account. The
// account alone keeps other tenants and the platform out of reach; the
// permissions keep the clients from publishing as the tenant's functions.
func TenantPermissions(tenant string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: PublishSubjects(tenant)},
		Subscribe: &server.SubjectPermission{Allow: SubscribeSubjects(tenant)},
	}
}

// FunctionPermissions are a tenant's functions' rights: publish its
// reports, and read the acks of those.
func FunctionPermissions(tenant string) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: ReportSubjects(tenant)},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
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
