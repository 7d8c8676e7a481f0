// Package images holds mysimbdp's one convention for turning an OpenFaaS
// image reference into something the local provider can run.
//
// On a real OpenFaaS installation an image is a container image in a
// registry. Locally there is no container engine, so "pushing" an image
// means placing the executable compiled from the function's build context
// into an images folder, at a path derived from the reference:
//
//	<images dir>/<registry and repository path>/<tag>
//
// The tag defaults to "latest"; a digest (@sha256:...) is not supported
// locally. Examples, with images dir /data/images:
//
//	mysimbdp/batch-ingest:0.1.0  -> /data/images/mysimbdp/batch-ingest/0.1.0
//	ghcr.io/acme/echo            -> /data/images/ghcr.io/acme/echo/latest
//
// `mysimbdp deploy` (build + push + deploy, like `faas-cli up`) writes
// there and the provider reads from there, both through Path.
package images

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// refPattern accepts registry/repository paths and tags in the character
// set of the OCI distribution spec, which also keeps the result inside dir.
var (
	repoPattern = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$`)
	tagPattern  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// Path returns where the executable for image ref lives under dir.
func Path(dir, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("image reference is empty")
	}
	if strings.Contains(ref, "@") {
		return "", fmt.Errorf("image %q: digests are not supported by the local provider; use a tag", ref)
	}
	repo, tag := ref, "latest"
	// The tag is after the last ':' that follows the last '/', so that a
	// registry port (localhost:5000/x) is not taken for a tag.
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if !repoPattern.MatchString(repo) {
		return "", fmt.Errorf("image %q: repository %q is not a valid image name (lower-case letters, digits, '.', '_', '-', separated by '/')", ref, repo)
	}
	if !tagPattern.MatchString(tag) {
		return "", fmt.Errorf("image %q: tag %q is not a valid tag", ref, tag)
	}
	return filepath.Join(dir, filepath.FromSlash(repo), tag), nil
}
