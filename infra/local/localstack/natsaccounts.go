package localstack

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mysimbdp/mysimbdp/infra/natsauth"
)

// moveStreamsToPlatformAccount moves JetStream's files of a data folder
// made before tenants had accounts of their own, when every stream lived
// in the global account ($G), to the platform account, so an upgraded
// stack keeps its streams, KV buckets and their consumers.
func moveStreamsToPlatformAccount(storeDir string, log *slog.Logger) error {
	js := filepath.Join(storeDir, "jetstream")
	old := filepath.Join(js, "$G")
	next := filepath.Join(js, natsauth.PlatformAccount)
	if _, err := os.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(next); err == nil {
		return fmt.Errorf("NATS store %s holds streams of both the global account and %s: move one away", js, natsauth.PlatformAccount)
	}
	if err := os.Rename(old, next); err != nil {
		return fmt.Errorf("move JetStream's files to the platform account: %w", err)
	}
	log.Info("moved JetStream's streams to the platform account", "from", old, "to", next)
	return nil
}
