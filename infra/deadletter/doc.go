// Package deadletter is how an operator reads, replays and purges what
// the connector gave up on: the messages of the dead-letter stream
// (contract.DeadLetterStream), S3 events and stream records alike. The
// CLI (`mysimbdp deadletter`) and the dashboard both go through a Store.
//
// A dead letter's id is its sequence in the dead-letter stream. Its
// headers (contract.DeadLetterHeader*) say where the original was first
// stored (stream, subject, sequence), the tenant, the function that
// failed, the attempts, the last status and the reason; its body is the
// original body, unchanged.
//
// Replay puts the original back where the connector takes it from, as a
// new message, so that the connector sees a fresh delivery (delivery 1,
// no attempt counted) rather than a continuation of the one that failed:
//
//   - An S3 event is republished to the S3 events subject. The connector
//     knows an event by its sequence in the S3 events stream (its event id,
//     X-Mysimbdp-Event-Id for the function), so the replay is a new event
//     with a new id and its own delivery state. Its Nats-Msg-Id is
//     "replay-<stream>-<original sequence>": within the stream's duplicate
//     window a second replay of the same event (an operator retrying after
//     a failure between publish and removal, or the dead letter of another
//     function that failed the same event) is dropped as a duplicate.
//   - A stream record is republished to its original subject, in its
//     tenant's stream, with the original's headers when that message is
//     still stored. It keeps its record id: the connector's record id is
//     the publisher's Nats-Msg-Id or else <stream>:<sequence>
//     (contract.RecordID), so the replay is published with Nats-Msg-Id set
//     to the record id the function saw before. A function that stores
//     records idempotently by id therefore stores a replayed record once,
//     even if an earlier attempt did store it before its answer was lost.
//     The price: while the dead-lettered message itself is inside its
//     stream's duplicate window (two minutes by default) the stream drops
//     the replay as a duplicate, so Replay refuses with
//     ErrInDuplicateWindow and the operator replays a little later.
//
// A replay goes to every function subscribed to the event's topic or the
// record's subject, not only the one that failed: there is one message
// for all of them. Functions are idempotent by contract, so the others
// see it again at no harm.
//
// Once the republish is stored the dead letter is deleted, so List no
// longer shows it and a second Replay of its id is ErrNotFound. A
// republish that the stream reports as a duplicate of an earlier replay
// counts as done: the letter is deleted all the same.
package deadletter
