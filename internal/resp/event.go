package resp

import "fmt"

// EventKind says what an Event reports.
type EventKind uint8

// The events a Subscriber delivers.
const (
	// EventMessage is a message published to a subscribed channel (or
	// one matching a subscribed pattern).
	EventMessage EventKind = iota + 1
	// EventConnected says the connection is up and every channel and
	// pattern subscribed so far is in place: from here on, messages
	// published to them are delivered. After a reconnect it is the moment
	// to fetch what was published while the connection was down.
	EventConnected
	// EventDisconnected says the connection was lost (Err says why).
	// Messages published since the last one delivered, and until the next
	// EventConnected, may be lost; the Subscriber reconnects by itself.
	EventDisconnected
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventMessage:
		return "message"
	case EventConnected:
		return "connected"
	case EventDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("event %d", k)
}

// Event is what a Subscriber hands its handler: a message, or a change of
// the connection's state.
type Event struct {
	Kind    EventKind
	Channel string // EventMessage: the channel published to
	Pattern string // EventMessage: the pattern matched, for a PSUBSCRIBE
	Payload string // EventMessage: the message
	Err     error  // EventDisconnected: why
}
