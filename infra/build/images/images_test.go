package images

import (
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	tests := []struct {
		ref, want, wantErr string
	}{
		{ref: "mysimbdp/batch-ingest:0.1.0", want: "/img/mysimbdp/batch-ingest/0.1.0"},
		{ref: "ghcr.io/acme/echo", want: "/img/ghcr.io/acme/echo/latest"},
		{ref: "localhost:5000/echo:v2", want: "/img/localhost:5000/echo/v2"},
		{ref: "echo", want: "/img/echo/latest"},
		{ref: "", wantErr: "empty"},
		{ref: "Echo:1", wantErr: "not a valid image name"},
		{ref: "../../etc/passwd", wantErr: "not a valid image name"},
		{ref: "echo:../x", wantErr: "not a valid image name"},
		{ref: "echo:.hidden", wantErr: "not a valid tag"},
		{ref: "echo@sha256:abc", wantErr: "digests are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := Path("/img", tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Path(%q) err = %v, want %q", tt.ref, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Path(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
		})
	}
}
