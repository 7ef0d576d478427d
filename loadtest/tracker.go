package loadtest

// seqWindow is the number of recent sequence numbers per sender that a
// receiver remembers exactly. The contract delivers a room's events in id
// order, so anything arriving more than seqWindow places late is already a
// server bug; it is still counted as delivered and out of order, and also as
// unverified, because it can no longer be told apart from a duplicate.
const seqWindow = 64

// Sequence is what one receiver knows about the messages of one sender,
// numbered from 0: every sequence number below hi is either received or a
// hole, and bit i of seen says whether hi-1-i was received. The zero value
// has received nothing.
type Sequence struct {
	hi   uint64
	seen uint64
}

// DeliveryCounts are the outcomes of delivery checks.
type DeliveryCounts struct {
	Delivered  uint64 // distinct (sender, seq) received, including late ones
	Duplicated uint64 // received again
	OutOfOrder uint64 // received after a later message of the same sender
	Unverified uint64 // received beyond the window: maybe a duplicate
	Holes      int64  // skipped sequence numbers not yet filled: loss seen so far
}

// tracker checks the messages one receiver gets against what its room's
// senders send. Its memory is one Sequence per sender of the room, whatever
// the length of the run. It is used by one goroutine.
type tracker struct {
	room   int
	rooms  int
	states []Sequence // indexed by sender / rooms
}

// newTracker returns the tracker of a receiver in room, where senders are
// the clients 0..senders-1 and client i is in room i % rooms.
func newTracker(room, rooms, senders int) tracker {
	n := 0
	if senders > room {
		n = (senders - room + rooms - 1) / rooms
	}
	return tracker{room: room, rooms: rooms, states: make([]Sequence, n)}
}

// accepts reports whether sender is a sender of the tracker's room.
func (t *tracker) accepts(sender int) bool {
	return sender%t.rooms == t.room && sender/t.rooms < len(t.states)
}

// receive records message seq of sender (which must be accepted) and returns
// what it changed.
func (t *tracker) receive(sender int, seq uint64) DeliveryCounts {
	return t.states[sender/t.rooms].Receive(seq)
}

// Receive records message seq and returns what it changed.
func (st *Sequence) Receive(seq uint64) (d DeliveryCounts) {
	switch {
	case seq >= st.hi:
		shift := seq - st.hi + 1
		d.Holes = int64(shift - 1)
		if shift >= seqWindow {
			st.seen = 1
		} else {
			st.seen = st.seen<<shift | 1
		}
		st.hi = seq + 1
		d.Delivered = 1
	case st.hi-1-seq < seqWindow:
		bit := uint64(1) << (st.hi - 1 - seq)
		if st.seen&bit != 0 {
			d.Duplicated = 1
			return d
		}
		st.seen |= bit
		d.Delivered, d.OutOfOrder, d.Holes = 1, 1, -1
	default:
		d.Delivered, d.OutOfOrder, d.Unverified, d.Holes = 1, 1, 1, -1
	}
	return d
}
