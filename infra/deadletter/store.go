package deadletter

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// Kind is what a dead letter holds.
type Kind string

const (
	KindS3      Kind = "s3"      // an S3 event
	KindStream  Kind = "stream"  // a record of a tenant's stream
	KindUnknown Kind = "unknown" // from a stream this package does not know
)

// ErrNotFound is the error of an id that is no dead letter (never was,
// or already replayed or purged).
var ErrNotFound = errors.New("no such dead letter")

// ErrInDuplicateWindow is Replay's error for a stream record whose
// dead-lettered message is still inside its stream's duplicate window,
// which would drop the replay (see the package documentation).
var ErrInDuplicateWindow = errors.New("the dead-lettered record is still inside its stream's duplicate window")

// Letter is one dead letter.
type Letter struct {
	// ID is the letter's sequence in the dead-letter stream.
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	// Tenant is the tenant the connector named ("" when it could not
	// read one, as for an undecodable S3 event).
	Tenant string `json:"tenant"`
	Kind   Kind   `json:"kind"`
	// What names the content: bucket/key of an S3 event's objects, or a
	// stream record's id.
	What       string `json:"what"`
	Function   string `json:"function,omitempty"`
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"last_status,omitempty"`
	Reason     string `json:"reason"`
	// Subject, Stream and Seq are where the original was first stored.
	Subject  string `json:"original_subject"`
	Stream   string `json:"original_stream"`
	Seq      uint64 `json:"original_seq"`
	RecordID string `json:"record_id,omitempty"`
	// Header and Body are the whole message; only Get fills them.
	Header map[string][]string `json:"headers,omitempty"`
	Body   []byte              `json:"body,omitempty"`
}

// Replayed is what became of one replayed letter.
type Replayed struct {
	Letter Letter `json:"letter"`
	// Stream and Seq are where the replay is stored now.
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	// Duplicate: an earlier replay of the same event or record was still
	// stored within the duplicate window, so none was added.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Config names the streams a Store works on; zero fields take the
// contract's names.
type Config struct {
	Stream          string // dead letters (contract.DeadLetterStream)
	SubjectPrefix   string // their subjects' prefix (contract.DeadLetterSubjectPrefix)
	S3EventsStream  string // contract.S3EventsStream
	S3EventsSubject string // contract.S3EventsSubject
}

// Store reads, replays and purges dead letters through a JetStream
// client with the platform's rights.
type Store struct {
	js  jetstream.JetStream
	cfg Config
}

// New returns a Store over js.
func New(js jetstream.JetStream, cfg Config) *Store {
	cfg.Stream = cmp.Or(cfg.Stream, contract.DeadLetterStream)
	cfg.SubjectPrefix = strings.TrimSuffix(cmp.Or(cfg.SubjectPrefix, contract.DeadLetterSubjectPrefix), ".")
	cfg.S3EventsStream = cmp.Or(cfg.S3EventsStream, contract.S3EventsStream)
	cfg.S3EventsSubject = cmp.Or(cfg.S3EventsSubject, contract.S3EventsSubject)
	return &Store{js: js, cfg: cfg}
}

// filter is the subject of tenant's letters, or of all with tenant "".
func (s *Store) filter(tenant string) (string, error) {
	if tenant == "" {
		return s.cfg.SubjectPrefix + ".>", nil
	}
	if strings.ContainsFunc(tenant, func(r rune) bool {
		return r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		return "", fmt.Errorf("tenant %q: not a tenant name", tenant)
	}
	return contract.DeadLetterSubject(s.cfg.SubjectPrefix, tenant), nil
}

// List returns the dead letters of tenant, or every tenant's with "",
// oldest first, without their headers and bodies.
func (s *Store) List(ctx context.Context, tenant string) ([]Letter, error) {
	subj, err := s.filter(tenant)
	if err != nil {
		return nil, err
	}
	// An ephemeral consumer reads them all in order in a few round trips;
	// it goes away when done, or by itself if this process dies.
	cons, err := s.js.CreateConsumer(ctx, s.cfg.Stream, jetstream.ConsumerConfig{
		Description:       "mysimbdp deadletter list",
		FilterSubject:     subj,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 30 * time.Second,
		MemoryStorage:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("read dead letters of stream %s: %w", s.cfg.Stream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.js.DeleteConsumer(dctx, s.cfg.Stream, cons.CachedInfo().Name)
	}()
	// Only those stored now: a letter arriving meanwhile is not waited for.
	want := cons.CachedInfo().NumPending
	out := make([]Letter, 0, want)
	for uint64(len(out)) < want {
		batch, err := cons.Fetch(int(min(want-uint64(len(out)), 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read dead letters of stream %s: %w", s.cfg.Stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read dead letter: %w", err)
			}
			l := parse(meta.Sequence.Stream, meta.Timestamp, m.Headers(), m.Data(), s.cfg.S3EventsStream)
			out = append(out, l)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("read dead letters of stream %s: %w", s.cfg.Stream, err)
		}
		if got == 0 {
			// Letters deleted (purged, replayed, aged out) since counted.
			break
		}
	}
	return out, nil
}

// Get returns dead letter id, with its headers and body.
func (s *Store) Get(ctx context.Context, id uint64) (Letter, error) {
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return Letter{}, fmt.Errorf("dead-letter stream %s: %w", s.cfg.Stream, err)
	}
	m, err := st.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Letter{}, fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("read dead letter %d: %w", id, err)
	}
	if !strings.HasPrefix(m.Subject, s.cfg.SubjectPrefix+".") {
		return Letter{}, fmt.Errorf("dead letter %d: %w (message on %s)", id, ErrNotFound, m.Subject)
	}
	l := parse(id, m.Time, m.Header, m.Data, s.cfg.S3EventsStream)
	l.Header, l.Body = m.Header, m.Data
	return l, nil
}

// parse reads a dead letter's headers.
func parse(id uint64, at time.Time, h nats.Header, body []byte, s3Stream string) Letter {
	l := Letter{
		ID: id, Time: at.UTC(),
		Tenant:   h.Get(contract.DeadLetterHeaderTenant),
		Function: h.Get(contract.DeadLetterHeaderFunction),
		Reason:   h.Get(contract.DeadLetterHeaderReason),
		Subject:  h.Get(contract.DeadLetterHeaderSubject),
		Stream:   h.Get(contract.DeadLetterHeaderStream),
		RecordID: h.Get(contract.DeadLetterHeaderRecordID),
	}
	l.Attempts, _ = strconv.Atoi(h.Get(contract.DeadLetterHeaderAttempts))
	l.LastStatus, _ = strconv.Atoi(h.Get(contract.DeadLetterHeaderLastStatus))
	l.Seq, _ = strconv.ParseUint(h.Get(contract.DeadLetterHeaderSeq), 10, 64)
	switch _, tenantStream := contract.TenantOfStream(l.Stream); {
	case l.Stream == s3Stream:
		l.Kind, l.What = KindS3, s3Objects(body)
	case tenantStream:
		l.Kind = KindStream
		l.What = cmp.Or(l.RecordID, contract.RecordID("", l.Stream, l.Seq))
	default:
		l.Kind, l.What = KindUnknown, l.Subject
	}
	return l
}

// s3Objects names the objects of an S3 event: bucket/key, comma-separated.
func s3Objects(body []byte) string {
	var ev events.S3Event
	if err := json.Unmarshal(body, &ev); err != nil || len(ev.Records) == 0 {
		return "(undecodable S3 event)"
	}
	var objs []string
	for _, r := range ev.Records {
		objs = append(objs, r.S3.Bucket.Name+"/"+r.S3.Object.URLDecodedKey)
	}
	return strings.Join(objs, ", ")
}

// Replay republishes dead letter id where the connector takes it from
// (see the package documentation) and deletes it.
func (s *Store) Replay(ctx context.Context, id uint64) (Replayed, error) {
	l, err := s.Get(ctx, id)
	if err != nil {
		return Replayed{}, err
	}
	msg, stream, err := s.replayMsg(ctx, l)
	if err != nil {
		return Replayed{}, fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(stream))
	if err != nil {
		return Replayed{}, fmt.Errorf("replay dead letter %d to %s in stream %s: %w", id, msg.Subject, stream, err)
	}
	if ack.Duplicate && ack.Stream == l.Stream && ack.Sequence == l.Seq {
		return Replayed{}, s.inWindow(ctx, l)
	}
	r := Replayed{Letter: l, Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if err := s.delete(ctx, id); err != nil {
		return r, fmt.Errorf("dead letter %d replayed (stream %s seq %d) but not removed; replaying it again within the duplicate window adds nothing: %w", id, ack.Stream, ack.Sequence, err)
	}
	return r, nil
}

// replayMsg is the message that replays l, and the stream it must land in.
func (s *Store) replayMsg(ctx context.Context, l Letter) (*nats.Msg, string, error) {
	var msg *nats.Msg
	var stream, msgID string
	switch l.Kind {
	case KindS3:
		msg, stream = nats.NewMsg(s.cfg.S3EventsSubject), s.cfg.S3EventsStream
		msgID = "replay-" + l.Stream + "-" + strconv.FormatUint(l.Seq, 10)
	case KindStream:
		tenant, _ := contract.TenantOfStream(l.Stream)
		// The headers are only ever written by the connector; still, a
		// replay must never land in another tenant's subjects.
		if tenant != l.Tenant || !strings.HasPrefix(l.Subject, contract.TenantSubjectPrefixOf(tenant)) {
			return nil, "", fmt.Errorf("record of stream %s on subject %q for tenant %q: the three do not agree", l.Stream, l.Subject, l.Tenant)
		}
		msg, stream = nats.NewMsg(l.Subject), l.Stream
		msgID = cmp.Or(l.RecordID, contract.RecordID("", l.Stream, l.Seq))
		if err := s.copyHeaders(ctx, l, msg); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", fmt.Errorf("it is neither an S3 event nor a stream record (original stream %q), so where it goes back to is unknown", l.Stream)
	}
	msg.Data = l.Body
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	msg.Header.Set(contract.HeaderReplayOf, strconv.FormatUint(l.ID, 10))
	return msg, stream, nil
}

// copyHeaders gives msg the publisher's headers of l's original record,
// if it is still stored (the dead letter keeps only the body). JetStream's
// own headers are left out: they belong to the original publish.
func (s *Store) copyHeaders(ctx context.Context, l Letter, msg *nats.Msg) error {
	st, err := s.js.Stream(ctx, l.Stream)
	if err != nil {
		return fmt.Errorf("stream %s of the record: %w", l.Stream, err)
	}
	orig, err := st.GetMsg(ctx, l.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the original record %s seq %d: %w", l.Stream, l.Seq, err)
	}
	if orig.Subject != l.Subject {
		return nil
	}
	for k, v := range orig.Header {
		if !strings.HasPrefix(k, "Nats-") {
			msg.Header[k] = v
		}
	}
	return nil
}

// inWindow is the error of a replay dropped because l's original is
// itself still inside the duplicate window, with when it ends.
func (s *Store) inWindow(ctx context.Context, l Letter) error {
	when := "in a few minutes"
	if st, err := s.js.Stream(ctx, l.Stream); err == nil {
		if orig, err := st.GetMsg(ctx, l.Seq); err == nil {
			when = "after " + orig.Time.Add(st.CachedInfo().Config.Duplicates).Local().Format(time.DateTime)
		}
	}
	return fmt.Errorf("replay dead letter %d: record %s: %w, which drops a republish with the same id; replay it %s",
		l.ID, l.What, ErrInDuplicateWindow, when)
}

// ReplayAll replays every dead letter of tenant, or of every tenant with
// "", oldest first. It goes on past a letter that fails and returns the
// errors joined, with what was replayed.
func (s *Store) ReplayAll(ctx context.Context, tenant string) ([]Replayed, error) {
	ls, err := s.List(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out []Replayed
	var errs []error
	for _, l := range ls {
		r, err := s.Replay(ctx, l.ID)
		if errors.Is(err, ErrNotFound) {
			continue // replayed or purged by someone else meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// Delete removes dead letter id and returns it.
func (s *Store) Delete(ctx context.Context, id uint64) (Letter, error) {
	l, err := s.Get(ctx, id)
	if err != nil {
		return Letter{}, err
	}
	if err := s.delete(ctx, id); err != nil {
		return Letter{}, fmt.Errorf("delete dead letter %d: %w", id, err)
	}
	l.Header, l.Body = nil, nil
	return l, nil
}

// delete removes message id of the dead-letter stream; one already gone
// is not an error.
func (s *Store) delete(ctx context.Context, id uint64) error {
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return fmt.Errorf("dead-letter stream %s: %w", s.cfg.Stream, err)
	}
	if err := st.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	return nil
}

// Purge removes the dead letters of tenant, or of every tenant with "",
// and returns them. Only letters stored when it starts are removed.
func (s *Store) Purge(ctx context.Context, tenant string) ([]Letter, error) {
	subj, err := s.filter(tenant)
	if err != nil {
		return nil, err
	}
	ls, err := s.List(ctx, tenant)
	if err != nil || len(ls) == 0 {
		return ls, err
	}
	st, err := s.js.Stream(ctx, s.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream %s: %w", s.cfg.Stream, err)
	}
	// Up to the last one listed, so that a letter stored meanwhile (always
	// with a higher sequence) stays, and what is reported is what went.
	last := ls[len(ls)-1].ID
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj), jetstream.WithPurgeSequence(last+1)); err != nil {
		return nil, fmt.Errorf("purge dead letters on %s up to %d: %w", subj, last, err)
	}
	return ls, nil
}
