package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mysimbdp/mysimbdp/shared/contract"
)

// SettleKind is how a message ends a delivery.
type SettleKind int

const (
	Ack  SettleKind = iota // done
	Nak                    // redeliver after Delay
	Term                   // dead-lettered: never redeliver
)

// Settlement is what becomes of one delivery of a message.
type Settlement struct {
	Kind   SettleKind
	Delay  time.Duration
	Reason string
}

// Settle tells JetStream the outcome of one message. It runs after the
// keep-alive has stopped: an InProgress after a Nak would restart the ack
// timer and override the Nak's delay.
func Settle(ctx context.Context, msg jetstream.Msg, s Settlement, log *slog.Logger) {
	var err error
	switch s.Kind {
	case Ack:
		// A confirmed ack makes "acked after 2xx" true rather than likely;
		// if it is lost the event comes back and the idempotent function
		// sees it again.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = msg.DoubleAck(actx)
		cancel()
		if err != nil {
			err = fmt.Errorf("ack: %w", err)
		}
	case Nak:
		if err = nak(msg, s.Delay); err != nil {
			err = fmt.Errorf("nak with delay %s: %w", s.Delay, err)
		}
	case Term:
		if err = msg.TermWithReason(s.Reason); err != nil {
			err = fmt.Errorf("term: %w", err)
		}
	}
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		log.Warn("settle message; JetStream will redeliver it after AckWait", "err", err)
	}
}

func nak(msg jetstream.Msg, delay time.Duration) error {
	if delay > 0 {
		return msg.NakWithDelay(delay)
	}
	return msg.Nak()
}

// Settled is one message of a batch with its settlement; ID names it in
// errors.
type Settled struct {
	Msg jetstream.Msg
	ID  string
	Settlement
}

// SettleBatch tells JetStream each message's outcome, then flushes nc, so
// that the acks have reached the server when the batch counts as done.
// Plain acks rather than DoubleAck: a batch would wait one round trip per
// message, and a lost ack only means an idempotent redelivery.
func SettleBatch(ctx context.Context, nc *nats.Conn, batch []Settled, log *slog.Logger) {
	var errs []error
	for _, r := range batch {
		var err error
		switch r.Kind {
		case Ack:
			err = r.Msg.Ack()
		case Nak:
			err = nak(r.Msg, r.Delay)
		case Term:
			err = r.Msg.TermWithReason(r.Reason)
		}
		if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			errs = append(errs, fmt.Errorf("record %s: %w", r.ID, err))
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		errs = append(errs, fmt.Errorf("flush: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("settle records; JetStream will redeliver the unsettled ones after AckWait", "err", err)
	}
}

// ReasonLimit bounds the function's answer quoted in a dead letter's reason.
const ReasonLimit = 1024

// UnknownTenant is the dead-letter subject token for messages whose
// tenant could not be read (undecodable bodies).
const UnknownTenant = "_unknown"

// Origin is where a message was first stored: a flow that moves a message
// on (an S3 event that waited) keeps its first place for its dead letter.
type Origin struct {
	Subject, Stream, Seq string
}

// OriginOf is msg's own place.
func OriginOf(msg jetstream.Msg, meta *jetstream.MsgMetadata) Origin {
	return Origin{Subject: msg.Subject(), Stream: meta.Stream, Seq: strconv.FormatUint(meta.Sequence.Stream, 10)}
}

// DeadLetter describes why a message is given up on.
type DeadLetter struct {
	Origin     Origin
	Tenant     string
	Function   string // "" when no function was involved
	Attempts   int
	LastStatus int // 0: none (transport error, no function, bad event)
	Reason     string
	RecordID   string // stream records only
}

// DeadLetters publishes dead letters under prefix.<tenant>.
type DeadLetters struct {
	js     jetstream.JetStream
	prefix string
	m      *Metrics
	log    *slog.Logger
}

// NewDeadLetters returns a publisher of dead letters through js.
func NewDeadLetters(js jetstream.JetStream, prefix string, m *Metrics, log *slog.Logger) *DeadLetters {
	return &DeadLetters{js: js, prefix: prefix, m: m, log: log}
}

// Publish stores msg's body in the dead-letter stream. The Nats-Msg-Id
// makes a republish after a crash (between publish and Term) a duplicate
// the stream drops.
func (p *DeadLetters) Publish(ctx context.Context, msg jetstream.Msg, dl DeadLetter) error {
	o := dl.Origin
	out := nats.NewMsg(contract.DeadLetterSubject(p.prefix, subjectToken(dl.Tenant)))
	out.Data = msg.Data()
	out.Header.Set(contract.DeadLetterHeaderSubject, o.Subject)
	out.Header.Set(contract.DeadLetterHeaderStream, o.Stream)
	out.Header.Set(contract.DeadLetterHeaderSeq, o.Seq)
	out.Header.Set(contract.DeadLetterHeaderTenant, headerValue(dl.Tenant))
	out.Header.Set(contract.DeadLetterHeaderFunction, dl.Function)
	out.Header.Set(contract.DeadLetterHeaderAttempts, strconv.Itoa(dl.Attempts))
	out.Header.Set(contract.DeadLetterHeaderLastStatus, strconv.Itoa(dl.LastStatus))
	out.Header.Set(contract.DeadLetterHeaderReason, headerValue(dl.Reason))
	if dl.RecordID != "" {
		out.Header.Set(contract.DeadLetterHeaderRecordID, headerValue(dl.RecordID))
	}
	out.Header.Set(jetstream.MsgIDHeader, "dl-"+o.Stream+"-"+o.Seq+"-"+dl.Function)
	if _, err := p.js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("publish dead letter of %s seq %s to %s: %w", o.Stream, o.Seq, out.Subject, err)
	}
	p.m.DeadLetters.WithLabelValues(dl.Tenant, dl.Function).Inc()
	p.log.Warn("event dead-lettered", "stream", o.Stream, "seq", o.Seq, "tenant", dl.Tenant,
		"function", dl.Function, "attempts", dl.Attempts, "last_status", dl.LastStatus, "reason", dl.Reason, "subject", out.Subject)
	return nil
}

// UnrecordedReason is the dead letter's reason for a message delivered
// more than MaxDeliveries times with no state recorded: only a connector
// that never got to record an outcome (it crashed or was restarted each
// time) gets there.
func UnrecordedReason(delivered uint64) string {
	return fmt.Sprintf("delivered %d times without an outcome recorded by this connector (does handling it crash the connector?)", delivered)
}

// FailureReason is the human-readable reason for a failed invocation,
// quoting the function's answer (truncated to ReasonLimit).
func FailureReason(fn string, r Result) string {
	if r.Status == 0 {
		return fmt.Sprintf("function %s did not answer: %v", fn, r.Err)
	}
	if r.Err != nil {
		return fmt.Sprintf("function %s answered %d but its answer could not be read: %v", fn, r.Status, r.Err)
	}
	msg := strings.TrimSpace(Truncate(r.Answer, ReasonLimit))
	if msg == "" {
		msg = "(empty answer)"
	}
	return fmt.Sprintf("function %s answered %d: %s", fn, r.Status, msg)
}

// Truncate cuts b to n bytes without splitting a UTF-8 sequence.
func Truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	s := strings.ToValidUTF8(string(b[:n]), "")
	return s + "…(truncated)"
}

// subjectToken makes s safe as one NATS subject token: bucket names may
// hold dots, which would split the tenant over two tokens.
func subjectToken(s string) string {
	if s == "" {
		return UnknownTenant
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return '_'
		}
		return r
	}, s)
}

// headerValue makes s fit a NATS header value: one line, valid UTF-8.
func headerValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
