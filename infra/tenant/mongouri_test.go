package tenant

import "testing"

func TestTenantMongoURI(t *testing.T) {
	c := Credentials{MongoUser: "tenant-acme", MongoPassword: "p@ss/w:rd"}
	for _, tc := range []struct{ name, uri, want string }{
		{"plain", "mongodb://db:27017", "mongodb://tenant-acme:p%40ss%2Fw%3Ard@db:27017/?authSource=acme"},
		{"admin user replaced", "mongodb://root:secret@db:27017/", "mongodb://tenant-acme:p%40ss%2Fw%3Ard@db:27017/?authSource=acme"},
		{"replica set and options kept", "mongodb://root:x@a:1,b:2,c:3/admin?replicaSet=rs0&authSource=admin&tls=true",
			"mongodb://tenant-acme:p%40ss%2Fw%3Ard@a:1,b:2,c:3/admin?authSource=acme&replicaSet=rs0&tls=true"},
		{"srv", "mongodb+srv://cluster.example.com/?retryWrites=true", "mongodb+srv://tenant-acme:p%40ss%2Fw%3Ard@cluster.example.com/?authSource=acme&retryWrites=true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TenantMongoURI(tc.uri, c, "acme")
			if err != nil || got != tc.want {
				t.Errorf("TenantMongoURI(%q) = %q, %v; want %q", tc.uri, got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"postgres://db", "db:27017", "mongodb://"} {
		if got, err := TenantMongoURI(bad, c, "acme"); err == nil {
			t.Errorf("TenantMongoURI(%q) = %q, want an error", bad, got)
		}
	}
}
