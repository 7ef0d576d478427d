// Package store is the boundary between chat rooms and where their events
// live. A Store keeps every room's history; a Log is one room's: it gives
// each event the room's next id, keeps the room's epoch, and reads back
// ranges of events from an id on.
//
// The implementations sit beside this package, one each:
// ringchat/chat/store/memory (nothing on disk, history for the life of the
// process), ringchat/chat/store/file (an append-only log on disk, the
// server's default), and, later, a Redis store shared by many processes.
// ringchat/chat/store/storetest holds the tests every one of them passes.
//
// How an event flows: chat calls Log.Append with the event, everything
// encoded but its id. The log gives it an id, keeps it, and hands the event,
// framed, to the room's Sink — at once, or once it is on disk when the
// operator asked for that, or when it comes back from a shared server. The
// sink is the room's in-memory ring, from which every member's writer reads.
// A reader that wants events older than the ring holds reads them from the
// log with Read.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"ringchat/wsproto"
)

// Record is one room event as a store keeps it.
type Record struct {
	ID   uint64 // the room's sequence number: consecutive, from 1
	Time int64  // when it was published, in Unix milliseconds
	Body []byte // the event's JSON object, exactly as members receive it
}

// Event is a room event on its way into a log: complete but for its id,
// which only the log can give. Its JSON object is
//
//	{"type":"<Type>","id":<id><Tail>
//
// where Tail holds the fields after the id and the closing brace, encoded
// by the caller (ringchat/chat) before it appends.
type Event struct {
	Type string
	Tail []byte
	Time int64 // Unix milliseconds
}

// AppendBody appends e's JSON object with the given id to dst.
func (e *Event) AppendBody(dst []byte, id uint64) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, e.Type...)
	dst = append(dst, `","id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, e.Tail...)
}

// BodySize returns the length of e's JSON object with the given id.
func (e *Event) BodySize(id uint64) int {
	digits := 1
	for v := id; v >= 10; v /= 10 {
		digits++
	}
	return len(`{"type":"`) + len(e.Type) + len(`","id":`) + digits + len(e.Tail)
}

// Frame returns e with the given id as the WebSocket text frame members
// receive, and its JSON object (the frame's payload, sharing its memory),
// in one allocation.
func (e *Event) Frame(id uint64) (frame, body []byte) {
	n := e.BodySize(id)
	h := wsproto.Header{Fin: true, Opcode: wsproto.OpText, Length: int64(n)}
	frame = wsproto.AppendHeader(make([]byte, 0, h.Size()+n), h)
	frame = e.AppendBody(frame, id)
	return frame, frame[h.Size():]
}

// FrameBody returns a record's body as the WebSocket text frame members
// receive (a copy).
func FrameBody(body []byte) []byte {
	return wsproto.AppendFrame(make([]byte, 0, wsproto.MaxHeaderSize+len(body)), wsproto.OpText, body)
}

// Sink receives a room's events from its log, to show them to the room's
// members.
type Sink interface {
	// Deliver hands over the event with the given id as a WebSocket
	// frame, once it may be shown: it is stored as the operator asked.
	// Each id is delivered once. Calls may come from several goroutines
	// and, for ids published at the same moment, out of order; the sink
	// orders them by id. A nil frame means the event is lost: members
	// count it as missed. Deliver must be quick and must not call back
	// into the log.
	Deliver(id uint64, frame []byte)
}

// Store keeps the history of every room. Its methods are safe for
// concurrent use.
type Store interface {
	// Open returns the log of the named room (a name chat.CleanRoom
	// accepts), creating the room's history when it has none, and
	// delivers the room's new events to sink until the log is closed.
	// A room is open at most once at a time.
	Open(room string, sink Sink) (Log, error)

	// Close writes out whatever is pending, as durably as the store
	// promises, and releases the store. Rooms still open are closed.
	Close() error
}

// Log is one open room's history. Its methods are safe for concurrent use.
type Log interface {
	// Epoch names this run of the room's history: ids compare only
	// within one epoch. It changes only when the history is really lost.
	Epoch() string

	// Last returns the id of the newest event such that every event
	// with a larger id reaches the sink after Last returns. Every event
	// up to Last has been delivered, or is being delivered and a reader
	// waiting for it will have it in a moment. 0 before the first event.
	Last() uint64

	// Oldest returns the id of the oldest event the log still retains,
	// or Last()+1 when it retains none.
	Oldest() uint64

	// Append gives e the room's next id and stores it; the event reaches
	// the sink as soon as it may be shown, possibly before Append
	// returns. It returns the id. It never waits for a disk sync unless
	// the store was configured to sync every event, and then the wait is
	// the sink's, not Append's: Append returns once the event is queued.
	// An error means the event was not stored and will not be delivered;
	// it wraps ErrUnavailable when the store cannot take events now.
	// Append does not keep e or its Tail.
	Append(e Event) (uint64, error)

	// Read appends to dst[:0] the retained events with ids from `from`
	// on, oldest first and consecutive, up to cap(dst) of them (and
	// about 64 KiB of bodies), and returns them. If `from` is older than
	// the oldest retained event the records start there: the first ID
	// tells how many the reader missed. An empty result means no event
	// from `from` on is stored yet. Bodies may be shared: callers must
	// not modify them.
	Read(from uint64, dst []Record) ([]Record, error)

	// Close releases the room: no more events reach its sink. Its
	// history stays in the store.
	Close() error
}

// ReadBytesLimit is about how many bytes of bodies one Read returns, so
// that a replaying reader holds a bounded amount of memory.
const ReadBytesLimit = 64 << 10

// Errors a store returns.
var (
	// ErrUnavailable means the store cannot take events now (a disk
	// that refuses writes, a server that cannot be reached).
	ErrUnavailable = errors.New("store: unavailable")
	// ErrClosed means the store or the log was closed.
	ErrClosed = errors.New("store: closed")
	// ErrOpen means the room is already open.
	ErrOpen = errors.New("store: room is already open")
	// ErrReset means the room's history was given a new epoch under an
	// open log (a shared store lost the room's data, and another process
	// began it again): the log cannot follow, and the room must be closed
	// and opened again. Errors that wrap it wrap ErrUnavailable too.
	ErrReset = errors.New("store: the room's history was reset")
)

// Retention says how much of each room's history a store keeps. Zero
// fields take the defaults.
type Retention struct {
	Events int           // at most this many of a room's newest events; DefaultHistory
	Age    time.Duration // and none older than this; DefaultHistoryAge
}

// Retention defaults.
const (
	DefaultHistory    = 10000
	DefaultHistoryAge = 30 * 24 * time.Hour
)

// WithDefaults returns r with zero fields set to the defaults.
func (r Retention) WithDefaults() Retention {
	if r.Events <= 0 {
		r.Events = DefaultHistory
	}
	if r.Age <= 0 {
		r.Age = DefaultHistoryAge
	}
	return r
}

// Cutoff returns the Time (Unix milliseconds) before which events are past
// r's age at now.
func (r Retention) Cutoff(now time.Time) int64 { return now.Add(-r.Age).UnixMilli() }

// NewEpoch returns a fresh epoch: 16 random hexadecimal digits.
func NewEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
