package loadtest

// seqWindow is the number of recent sequence numbers per sender that a
// receiver remembers exactly. The contract delivers a room's events in id
// order, so anything arriving more than seqWindow places late is already a
// server bug; it is still counted as delivered and out of order, and also as
// unverified, because it can no longer be told apart from a duplicate.
const seqWindow = 64

// seqState is what one receiver knows about the messages of one sender:
// every sequence number below hi is either received or a hole, and bit i of
// seen says whether hi-1-i was received.
type seqState struct {
	hi   uint64
	seen uint64
}

// deliveryCounts are the outcomes of delivery checks.
type deliveryCounts struct {
	delivered  uint64 // distinct (sender, seq) received, including late ones
	duplicated uint64 // received again
	outOfOrder uint64 // received after a later message of the same sender
	unverified uint64 // received beyond the window: maybe a duplicate
	holes      int64  // skipped sequence numbers not yet filled: loss seen so far
}

// tracker checks the messages one receiver gets against what its room's
// senders send. Its memory is one seqState per sender of the room, whatever
// the length of the run. It is used by one goroutine.
type tracker struct {
	room   int
	rooms  int
	states []seqState // indexed by sender / rooms
}

// newTracker returns the tracker of a receiver in room, where senders are
// the clients 0..senders-1 and client i is in room i % rooms.
func newTracker(room, rooms, senders int) tracker {
	n := 0
	if senders > room {
		n = (senders - room + rooms - 1) / rooms
	}
	return tracker{room: room, rooms: rooms, states: make([]seqState, n)}
}

// accepts reports whether sender is a sender of the tracker's room.
func (t *tracker) accepts(sender int) bool {
	return sender%t.rooms == t.room && sender/t.rooms < len(t.states)
}

// receive records message seq of sender (which must be accepted) and returns
// what it changed.
func (t *tracker) receive(sender int, seq uint64) deliveryCounts {
	return t.states[sender/t.rooms].receive(seq)
}

// receive records message seq and returns what it changed.
func (st *seqState) receive(seq uint64) (d deliveryCounts) {
	switch {
	case seq >= st.hi:
		shift := seq - st.hi + 1
		d.holes = int64(shift - 1)
		if shift >= seqWindow {
			st.seen = 1
		} else {
			st.seen = st.seen<<shift | 1
		}
		st.hi = seq + 1
		d.delivered = 1
	case st.hi-1-seq < seqWindow:
		bit := uint64(1) << (st.hi - 1 - seq)
		if st.seen&bit != 0 {
			d.duplicated = 1
			return d
		}
		st.seen |= bit
		d.delivered, d.outOfOrder, d.holes = 1, 1, -1
	default:
		d.delivered, d.outOfOrder, d.unverified, d.holes = 1, 1, 1, -1
	}
	return d
}
