package connector

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a dead-letter message. Its body is the original message's
// body, unchanged, so it can be replayed as it is.
const (
	DLHeaderSubject    = "Mysimbdp-Original-Subject"
	DLHeaderStream     = "Mysimbdp-Original-Stream"
	DLHeaderSeq        = "Mysimbdp-Stream-Seq"
	DLHeaderTenant     = "Mysimbdp-Tenant"
	DLHeaderFunction   = "Mysimbdp-Function"
	DLHeaderAttempts   = "Mysimbdp-Attempts"
	DLHeaderLastStatus = "Mysimbdp-Last-Status"
	DLHeaderReason     = "Mysimbdp-Reason"
	// DLHeaderRecordID is a stream record's id (StreamRecord.ID).
	DLHeaderRecordID = "Mysimbdp-Record-Id"
)

// reasonLimit bounds the function's answer quoted in a dead letter's reason.
const reasonLimit = 1024

// unknownTenant is the dead-letter subject token for events whose tenant
// could not be read (undecodable bodies).
const unknownTenant = "_unknown"

// deadLetter describes why a message is given up on.
type deadLetter struct {
	tenant     string
	function   string // "" when no function was involved
	attempts   int
	lastStatus int // 0: none (transport error, no function, bad event)
	reason     string
	recordID   string // stream records only
}

// subjectToken makes s safe as one NATS subject token: bucket names may
// hold dots, which would split the tenant over two tokens.
func subjectToken(s string) string {
	if s == "" {
		return unknownTenant
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

// truncate cuts b to n bytes without splitting a UTF-8 sequence.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	s := strings.ToValidUTF8(string(b[:n]), "")
	return s + "…(truncated)"
}

// failureReason is the human-readable reason for a failed invocation,
// quoting the function's answer (truncated to reasonLimit).
func failureReason(fn string, r result) string {
	if r.status == 0 {
		return fmt.Sprintf("function %s did not answer: %v", fn, r.err)
	}
	if r.err != nil {
		return fmt.Sprintf("function %s answered %d but its answer could not be read: %v", fn, r.status, r.err)
	}
	msg := strings.TrimSpace(truncate(r.answer, reasonLimit))
	if msg == "" {
		msg = "(empty answer)"
	}
	return fmt.Sprintf("function %s answered %d: %s", fn, r.status, msg)
}

// publishDeadLetter stores msg's body in the dead-letter stream. The
// Nats-Msg-Id makes a republish after a crash (between publish and Term)
// a duplicate the stream drops.
func (c *Connector) publishDeadLetter(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, meta *jetstream.MsgMetadata, dl deadLetter) error {
	out := nats.NewMsg(c.cfg.DeadLetterSubjectPrefix + "." + subjectToken(dl.tenant))
	out.Data = msg.Data()
	// Where the event was first stored, also when it has waited (wait.go).
	o := c.originOf(msg, meta)
	seq := o.id
	out.Header.Set(DLHeaderSubject, o.subject)
	out.Header.Set(DLHeaderStream, o.stream)
	out.Header.Set(DLHeaderSeq, seq)
	out.Header.Set(DLHeaderTenant, headerValue(dl.tenant))
	out.Header.Set(DLHeaderFunction, dl.function)
	out.Header.Set(DLHeaderAttempts, strconv.Itoa(dl.attempts))
	out.Header.Set(DLHeaderLastStatus, strconv.Itoa(dl.lastStatus))
	out.Header.Set(DLHeaderReason, headerValue(dl.reason))
	if dl.recordID != "" {
		out.Header.Set(DLHeaderRecordID, headerValue(dl.recordID))
	}
	out.Header.Set(jetstream.MsgIDHeader, "dl-"+o.stream+"-"+seq+"-"+dl.function)
	if _, err := js.PublishMsg(ctx, out); err != nil {
		return fmt.Errorf("publish dead letter of %s seq %s to %s: %w", o.stream, seq, out.Subject, err)
	}
	c.metrics.deadLetters.WithLabelValues(dl.tenant, dl.function).Inc()
	c.log.Warn("event dead-lettered", "stream", o.stream, "seq", seq, "tenant", dl.tenant,
		"function", dl.function, "attempts", dl.attempts, "last_status", dl.lastStatus, "reason", dl.reason, "subject", out.Subject)
	return nil
}
