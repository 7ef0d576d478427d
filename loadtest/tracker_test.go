package loadtest

import "testing"

func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint64
		want DeliveryCounts
	}{
		{"in order", []uint64{0, 1, 2, 3}, DeliveryCounts{Delivered: 4}},
		{"first lost", []uint64{1, 2}, DeliveryCounts{Delivered: 2, Holes: 1}},
		{"hole", []uint64{0, 1, 4, 5}, DeliveryCounts{Delivered: 4, Holes: 2}},
		{"hole filled late", []uint64{0, 2, 1}, DeliveryCounts{Delivered: 3, OutOfOrder: 1}},
		{"duplicate", []uint64{0, 1, 1, 2, 0}, DeliveryCounts{Delivered: 3, Duplicated: 2}},
		{"duplicate of late one", []uint64{0, 2, 1, 1}, DeliveryCounts{Delivered: 3, OutOfOrder: 1, Duplicated: 1}},
		{"edge of window", []uint64{0, seqWindow, 1}, DeliveryCounts{Delivered: 3, OutOfOrder: 1, Holes: seqWindow - 2}},
		{"beyond window", []uint64{0, seqWindow + 1, 1}, DeliveryCounts{Delivered: 3, OutOfOrder: 1, Unverified: 1, Holes: seqWindow - 1}},
		{"big jump", []uint64{5, 1000, 999}, DeliveryCounts{Delivered: 3, OutOfOrder: 1, Holes: 5 + 994 - 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(0, 1, 1)
			var got DeliveryCounts
			for _, s := range tc.seqs {
				d := tr.receive(0, s)
				got.Delivered += d.Delivered
				got.Duplicated += d.Duplicated
				got.OutOfOrder += d.OutOfOrder
				got.Unverified += d.Unverified
				got.Holes += d.Holes
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTrackerRooms(t *testing.T) {
	// 10 senders over 3 rooms: room 1 has senders 1, 4 and 7.
	tr := newTracker(1, 3, 10)
	for s, want := range map[int]bool{1: true, 4: true, 7: true, 10: false, 0: false, 2: false, 9: false} {
		if tr.accepts(s) != want {
			t.Errorf("room 1 accepts sender %d: %v, want %v", s, !want, want)
		}
	}
	if len(newTracker(2, 3, 2).states) != 0 || len(newTracker(0, 3, 10).states) != 4 {
		t.Errorf("wrong number of sender slots")
	}
}
