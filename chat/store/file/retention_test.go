package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/file"
	"ringchat/chat/store/storetest"
)

func segmentFiles(t *testing.T, dir string) int {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "rooms", "room-lobby", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(segs)
}

// TestSegmentsPastRetention: whole segments are deleted once every event
// in them is past retention, by count or by age; the newest segment stays,
// so ids go on after a restart even when every event is past its age.
func TestSegmentsPastRetention(t *testing.T) {
	tests := []struct {
		name       string
		ret        store.Retention
		old, fresh int // events two hours old, then events of now
		wantOldest uint64
	}{
		{"by count", store.Retention{Events: 20}, 0, 200, 181},
		{"by age", store.Retention{Age: time.Hour}, 150, 50, 151},
		{"everything past its age", store.Retention{Age: time.Hour}, 200, 0, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := file.Options{Dir: dir, Retention: tt.ret, SegmentBytes: 1024, Logger: quiet}
			s, err := file.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			sink := storetest.NewSink()
			l, err := s.Open("lobby", sink)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.old + tt.fresh {
				e := testEvent(fmt.Sprint("e", i+1))
				if i < tt.old {
					e.Time = time.Now().Add(-2 * time.Hour).UnixMilli()
				}
				if _, err := l.Append(e); err != nil {
					t.Fatal(err)
				}
			}
			last := uint64(tt.old + tt.fresh)
			sink.WaitFor(t, 1, last)
			s.Flush()
			before := segmentFiles(t, dir)
			s.MaintainAt(time.Now())
			after := segmentFiles(t, dir)
			firsts := s.Segments("lobby")
			if after >= before || after != len(firsts) || firsts[0] > tt.wantOldest {
				t.Fatalf("%d segment files before maintenance, %d after (%v); want fewer, none with events past retention deleted", before, after, firsts)
			}
			if len(firsts) > 1 && firsts[1] <= tt.wantOldest {
				t.Fatalf("segments %v: the one from %d is past retention (oldest %d) and was kept", firsts, firsts[0], tt.wantOldest)
			}
			if l.Oldest() != tt.wantOldest {
				t.Fatalf("Oldest() = %d, want %d", l.Oldest(), tt.wantOldest)
			}
			recs, err := l.Read(1, make([]store.Record, 0, 10))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantOldest <= last && (len(recs) == 0 || recs[0].ID != tt.wantOldest) {
				t.Fatalf("Read(1) starts at %v, want %d", recs, tt.wantOldest)
			}
			l.Close()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = file.Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			l, err = s.Open("lobby", storetest.NewSink())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.Last() != last || l.Oldest() != tt.wantOldest {
				t.Fatalf("after a restart: Last() %d, Oldest() %d; want %d, %d", l.Last(), l.Oldest(), last, tt.wantOldest)
			}
		})
	}
}

// TestIdleRoomsReleased: a room closed longer than IdleAfter is released —
// its file closed, its indexes dropped — and reads and appends as before
// when it is opened again.
func TestIdleRoomsReleased(t *testing.T) {
	dir := t.TempDir()
	s, err := file.Open(file.Options{Dir: dir, SegmentBytes: 2048, IdleAfter: time.Minute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range 3 {
		sink := storetest.NewSink()
		l, err := s.Open("lobby", sink)
		if err != nil {
			t.Fatal(err)
		}
		first := l.Last() + 1
		for i := range 50 {
			if _, err := l.Append(testEvent(fmt.Sprint("e", first+uint64(i)))); err != nil {
				t.Fatal(err)
			}
		}
		sink.WaitFor(t, first, first+49)
		if texts := readTexts(t, l); len(texts) != 50*(round+1) {
			t.Fatalf("round %d: %d events read back", round, len(texts))
		}
		l.Close()
		s.MaintainAt(time.Now().Add(2 * time.Minute))
	}
	if fds := openSegmentFiles(t, dir); fds != 0 {
		t.Fatalf("%d segment files still open for an idle room", fds)
	}
}

// openSegmentFiles counts this process's open files among the store's
// segments (on Linux; elsewhere it reports 0).
func openSegmentFiles(t *testing.T, dir string) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && filepath.Ext(target) == ".log" && filepath.HasPrefix(target, dir) {
			n++
		}
	}
	return n
}
