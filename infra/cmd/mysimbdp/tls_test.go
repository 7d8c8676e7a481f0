package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mysimbdp/mysimbdp/infra/local/localstack"
)

// TestTLSRotate: rotate re-issues every part's certificate with the data
// folder's CA, and refuses a data folder with no CA (a new one would be
// trusted by no client).
func TestTLSRotate(t *testing.T) {
	withCA := t.TempDir()
	if _, _, err := localstack.EnsureTLS(withCA, 0); err != nil {
		t.Fatal(err)
	}
	caBefore, err := os.ReadFile(localstack.CAFile(withCA))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data string
		wantErr    string
		wantOut    []string
	}{
		{"with a CA", withCA, "", append(localstack.TLSParts(), "unchanged")},
		{"without a CA", t.TempDir(), "mysimbdp up --tls", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := run(context.Background(), []string{"tls", "rotate", "--data", tc.data}, &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(localstack.TLSDir(tc.data), "ca.key")); err == nil {
					t.Error("rotate made a CA")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			caAfter, _ := os.ReadFile(localstack.CAFile(tc.data))
			if string(caAfter) != string(caBefore) {
				t.Error("rotate changed the CA")
			}
		})
	}
}
