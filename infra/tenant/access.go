package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mysimbdp/mysimbdp/infra/minioadmin"
	"github.com/mysimbdp/mysimbdp/infra/natsauth"
	"github.com/mysimbdp/mysimbdp/shared/profile"
)

// S3PolicyDocument is the IAM policy of a tenant's MinIO user: the bucket
// and its objects, nothing else (not even the list of buckets).
func S3PolicyDocument(bucket string) []byte {
	type statement struct {
		Effect   string   `json:"Effect"`
		Action   []string `json:"Action"`
		Resource []string `json:"Resource"`
	}
	doc := struct {
		Version   string      `json:"Version"`
		Statement []statement `json:"Statement"`
	}{
		Version: "2012-10-17",
		Statement: []statement{
			{"Allow", []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}, []string{"arn:aws:s3:::" + bucket}},
			{"Allow", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"}, []string{"arn:aws:s3:::" + bucket + "/*"}},
		},
	}
	b, _ := json.Marshal(doc)
	return b
}

// applyS3User creates or updates the tenant's MinIO user and its policy.
func applyS3User(ctx context.Context, admin *minioadmin.Client, bucket string, c Credentials) error {
	if err := admin.PutUser(ctx, c.S3AccessKey, c.S3SecretKey); err != nil {
		return err
	}
	if err := admin.PutPolicy(ctx, S3Policy(c.Tenant), S3PolicyDocument(bucket)); err != nil {
		return err
	}
	return admin.AttachPolicy(ctx, S3Policy(c.Tenant), c.S3AccessKey)
}

func removeS3User(ctx context.Context, admin *minioadmin.Client, tenant string) error {
	if err := admin.RemoveUser(ctx, S3User(tenant)); err != nil {
		return err
	}
	return admin.RemovePolicy(ctx, S3Policy(tenant))
}

// applyNATSUser gives the tenant's NATS account and users to the local
// stack's user service. A NATS the platform does not run has no such service: the
// user's configuration is returned for the operator instead.
func applyNATSUser(ctx context.Context, nc *nats.Conn, c Credentials) (managed bool, config string, err error) {
	_, err = natsauth.Put(ctx, nc, c.Tenant, c.NATSHashes())
	if errors.Is(err, natsauth.ErrNoService) {
		return false, natsauth.ConfigSnippet(c.Tenant, c.NATSHashes()), nil
	}
	return err == nil, "", err
}

// isFerretDB reports whether the server is FerretDB, whose buildInfo says
// so. FerretDB v1 accepts createUser but does not enforce users, so a user
// there would only pretend to isolate.
func isFerretDB(ctx context.Context, db *mongo.Client) (bool, error) {
	var info bson.M
	if err := db.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("MongoDB buildInfo: %w", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// applyDatabase creates the tenant's database (MongoDB creates a database
// with its first collection, so the sink collection is created) and, on a
// MongoDB with users, a user with readWrite on that database only.
func applyDatabase(ctx context.Context, db *mongo.Client, p *profile.Profile, c Credentials) (user bool, err error) {
	d := db.Database(p.Sink.Database)
	// Each dataset's sink (with no datasets, the profile's own).
	for _, ds := range p.AllDatasets() {
		coll := ds.Sink.Collection
		names, err := d.ListCollectionNames(ctx, bson.D{{Key: "name", Value: coll}})
		if err != nil {
			return false, fmt.Errorf("database %s: %w", p.Sink.Database, err)
		}
		if len(names) == 0 {
			if err := d.CreateCollection(ctx, coll); err != nil && !isCode(err, 48) { // NamespaceExists
				return false, fmt.Errorf("database %s: create collection %s: %w", p.Sink.Database, coll, err)
			}
		}
	}
	ferret, err := isFerretDB(ctx, db)
	if err != nil || ferret {
		return false, err
	}
	roles := bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: p.Sink.Database}}}
	err = d.RunCommand(ctx, bson.D{{Key: "updateUser", Value: c.MongoUser}, {Key: "pwd", Value: c.MongoPassword}, {Key: "roles", Value: roles}}).Err()
	if isCode(err, 11) { // UserNotFound
		err = d.RunCommand(ctx, bson.D{{Key: "createUser", Value: c.MongoUser}, {Key: "pwd", Value: c.MongoPassword}, {Key: "roles", Value: roles}}).Err()
	}
	if err != nil {
		return false, fmt.Errorf("database %s: user %s: %w", p.Sink.Database, c.MongoUser, err)
	}
	return true, nil
}

// TenantMongoURI is uri logged in as the tenant's database user, which is
// defined in (authSource) its database. uri may list several hosts or use
// mongodb+srv://; any user in it is replaced.
func TenantMongoURI(uri string, c Credentials, database string) (string, error) {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return "", fmt.Errorf("MongoDB URI: want mongodb:// or mongodb+srv://")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		hosts = hosts[at+1:]
	}
	if hosts == "" {
		return "", fmt.Errorf("MongoDB URI: no host")
	}
	dbPart, query, _ := strings.Cut(path, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("MongoDB URI options: %w", err)
	}
	q.Set("authSource", database)
	user := url.UserPassword(c.MongoUser, c.MongoPassword).String()
	return scheme + "://" + user + "@" + hosts + "/" + dbPart + "?" + q.Encode(), nil
}

// removeDatabase drops the tenant's database user (if the server has
// users) and, unless keepData, the database.
func removeDatabase(ctx context.Context, db *mongo.Client, database, tenant string, keepData bool) error {
	ferret, err := isFerretDB(ctx, db)
	if err != nil {
		return err
	}
	d := db.Database(database)
	if !ferret {
		err := d.RunCommand(ctx, bson.D{{Key: "dropUser", Value: MongoUser(tenant)}}).Err()
		if err != nil && !isCode(err, 11) {
			return fmt.Errorf("database %s: drop user %s: %w", database, MongoUser(tenant), err)
		}
	}
	if keepData {
		return nil
	}
	if err := d.Drop(ctx); err != nil {
		return fmt.Errorf("drop database %s: %w", database, err)
	}
	return nil
}

func isCode(err error, code int32) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == code
}
