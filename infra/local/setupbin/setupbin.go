// Package setupbin checks the executables that scripts/setup builds into
// bin/ (the MinIO server, mc, aws-lambda-rie) before a part runs one, so a
// missing build says how to fix it rather than failing as an exec error.
package setupbin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Check returns nil when path is an executable file; otherwise an error
// naming what (e.g. "MinIO server binary") and saying to run the setup.
func Check(what, path string) error {
	notFound := fmt.Errorf("%s not found at %s: run ./scripts/setup to build it", what, path)
	if path == "" {
		return notFound
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), err == nil && fi.IsDir():
		return notFound
	case err != nil:
		return fmt.Errorf("%s at %s: %w", what, path, err)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s at %s is not executable: run ./scripts/setup to build it", what, path)
	}
	return nil
}
