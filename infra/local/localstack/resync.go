package localstack

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/infra/connector/s3event"
	"github.com/mysimbdp/mysimbdp/infra/local/supervise"
	"github.com/mysimbdp/mysimbdp/shared/contract"
	"github.com/mysimbdp/mysimbdp/shared/profile"
	"github.com/mysimbdp/mysimbdp/shared/trust"
)

// After MinIO restarts, the events of some uploads never reach NATS: a
// restarted MinIO accepts uploads a moment before its bucket
// notifications are loaded (seen in tests/e2e: the first uploads after a
// kill -9 had no event), and an upload acknowledged just before a kill may
// not have had its event queued yet. So once MinIO is back, the stack
// publishes the event of every object under incoming/ of every bucket with
// notifications that changed around the restart. A file that did get its
// event is delivered twice, which the batch app contract allows: apps are
// idempotent per object version.
const (
	// resyncDelay is how long after a restart the pass runs: past the
	// moments notifications may still be loading.
	resyncDelay = 10 * time.Second
	// resyncBefore is how far before the exit the pass looks.
	resyncBefore = 30 * time.Second
)

// onMinIOChange writes the status file and, after a restart, schedules
// the pass that republishes the events MinIO may have lost.
func (s *Stack) onMinIOChange(st supervise.Status) {
	s.writeStatus()
	s.statusMu.Lock()
	restarted := st.Restarts > s.minioRestarts
	s.minioRestarts = st.Restarts
	s.statusMu.Unlock()
	if !restarted || st.State != supervise.StateRunning {
		return
	}
	since := st.LastExitAt.Add(-resyncBefore)
	s.background.Go(func() {
		t := time.NewTimer(resyncDelay)
		defer t.Stop()
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
		}
		n, err := s.resyncEvents(s.bgCtx, since)
		if err != nil {
			s.log.Error("republish the events MinIO may have lost in its restart; files uploaded around it may wait in incoming/ until uploaded again", "part", PartMinIO, "err", err)
			return
		}
		s.log.Info("republished the events of the files uploaded around MinIO's restart", "part", PartMinIO, "events", n, "since", since)
	})
}

// resyncEvents publishes, for every object under incoming/ of every bucket
// with notifications, modified since since, the event MinIO sends for an
// upload, and returns how many it published.
func (s *Stack) resyncEvents(ctx context.Context, since time.Time) (int, error) {
	tr, err := trust.S3Transport(s.Endpoints.MinIOSecure, s.Endpoints.CAFile)
	if err != nil {
		return 0, err
	}
	mc, err := minio.New(s.Endpoints.MinIO, &minio.Options{Creds: credentials.NewStaticV4(s.Creds.MinIOUser, s.Creds.MinIOPassword, ""),
		Secure: s.Endpoints.MinIOSecure, Transport: tr})
	if err != nil {
		return 0, fmt.Errorf("MinIO client: %w", err)
	}
	nc, err := nats.Connect(s.Endpoints.NATS, append(trust.NATS(s.Endpoints.CAFile), nats.Name("mysimbdp minio-resync"))...)
	if err != nil {
		return 0, fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, fmt.Errorf("JetStream: %w", err)
	}
	buckets, err := mc.ListBuckets(ctx)
	if err != nil {
		return 0, fmt.Errorf("list buckets: %w", err)
	}
	n := 0
	for _, b := range buckets {
		cfg, err := mc.GetBucketNotification(ctx, b.Name)
		if err != nil {
			return n, fmt.Errorf("notifications of bucket %s: %w", b.Name, err)
		}
		if len(cfg.QueueConfigs) == 0 {
			continue // no events from this bucket: nothing was lost
		}
		for o, err := range s3event.ListIncoming(ctx, mc, b.Name, profile.IncomingPrefix) {
			if err != nil {
				return n, err
			}
			if o.LastModified.Before(since) {
				continue
			}
			if err := s3event.PublishCreated(ctx, js, contract.S3EventsSubject, b.Name, o, "resync-"+b.Name+"/"+o.Key+"@"+o.ETag); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
