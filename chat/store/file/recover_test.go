package file_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/file"
	"ringchat/chat/store/storetest"
)

// fill opens a store in dir, appends n events to room lobby, and closes it.
func fill(t *testing.T, dir string, n int, opts file.Options) (epoch string) {
	t.Helper()
	opts.Dir, opts.Logger = dir, quiet
	s, err := file.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	sink := storetest.NewSink()
	l, err := s.Open("lobby", sink)
	if err != nil {
		t.Fatal(err)
	}
	last := l.Last()
	for i := range n {
		if _, err := l.Append(testEvent(fmt.Sprint("e", last+uint64(i)+1))); err != nil {
			t.Fatal(err)
		}
	}
	sink.WaitFor(t, last+1, last+uint64(n))
	epoch = l.Epoch()
	l.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return epoch
}

func testEvent(text string) store.Event {
	return store.Event{Type: "message", Tail: fmt.Appendf(nil, `,"text":%q}`, text), Time: time.Now().UnixMilli()}
}

// newestSegment returns the path of lobby's newest segment.
func newestSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "rooms", "room-lobby", "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments: %v", err)
	}
	return segs[len(segs)-1]
}

// reopen opens the store again, capturing what it logs.
func reopen(t *testing.T, dir string) (*file.Store, store.Log, *storetest.Sink, string, error) {
	t.Helper()
	var logs bytes.Buffer
	s, err := file.Open(file.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		return nil, nil, nil, logs.String(), err
	}
	t.Cleanup(func() { s.Close() })
	sink := storetest.NewSink()
	l, err := s.Open("lobby", sink)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return s, l, sink, logs.String(), nil
}

func readTexts(t *testing.T, l store.Log) []string {
	t.Helper()
	var out []string
	from := uint64(1)
	for {
		recs, err := l.Read(from, make([]store.Record, 0, 50))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		for _, r := range recs {
			if r.ID != from {
				t.Fatalf("read id %d where %d was due", r.ID, from)
			}
			_, text, _ := strings.Cut(string(r.Body), `"text":"`)
			out = append(out, strings.TrimSuffix(text, `"}`))
			from++
		}
	}
}

// TestTornTail: what a crash in the middle of a write leaves at the end of
// the newest segment — part of a record, a record with a flipped byte,
// zeros where the file system had extended the file — is cut at the last
// good record, and logged; every older record is kept; ids go on from the
// last good one in the same epoch.
func TestTornTail(t *testing.T) {
	tests := []struct {
		name     string
		damage   func(t *testing.T, path string, data []byte) []byte
		wantLast uint64
	}{
		{"part of a record", func(t *testing.T, _ string, data []byte) []byte { return data[:len(data)-5] }, 9},
		{"only a length", func(t *testing.T, _ string, data []byte) []byte { return append(data, 40, 0, 0) }, 10},
		{"a flipped byte in the last record", func(t *testing.T, _ string, data []byte) []byte {
			data[len(data)-3] ^= 0x20
			return data
		}, 9},
		{"zeros after the last record", func(t *testing.T, _ string, data []byte) []byte {
			return append(data, make([]byte, 4096)...)
		}, 10},
		{"garbage after the last record", func(t *testing.T, _ string, data []byte) []byte {
			return append(data, []byte("\xff\xff\xff\x7fnot a record at all")...)
		}, 10},
		{"a torn magic in a new segment", func(t *testing.T, path string, data []byte) []byte {
			next := filepath.Join(filepath.Dir(path), "00000000000000000011.log")
			if err := os.WriteFile(next, []byte("RCHA"), 0o644); err != nil {
				t.Fatal(err)
			}
			return data
		}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			epoch := fill(t, dir, 10, file.Options{})
			path := newestSegment(t, dir)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(t, path, data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, l, sink, logs, err := reopen(t, dir)
			if err != nil {
				t.Fatalf("Open after a torn tail: %v", err)
			}
			if l.Last() != tt.wantLast || l.Epoch() != epoch {
				t.Fatalf("after recovery: Last() = %d, epoch %q; want %d, %q", l.Last(), l.Epoch(), tt.wantLast, epoch)
			}
			if !strings.Contains(logs, "cut a torn or corrupt tail") {
				t.Fatalf("recovery did not log the cut: %q", logs)
			}
			texts := readTexts(t, l)
			for i, text := range texts {
				if text != fmt.Sprint("e", i+1) {
					t.Fatalf("record %d reads %q after recovery", i+1, text)
				}
			}
			if uint64(len(texts)) != tt.wantLast {
				t.Fatalf("%d records after recovery, want %d", len(texts), tt.wantLast)
			}
			id, err := l.Append(testEvent("after"))
			if err != nil || id != tt.wantLast+1 {
				t.Fatalf("Append after recovery: id %d, %v; want %d", id, err, tt.wantLast+1)
			}
			sink.WaitFor(t, id, id)
		})
	}
}

// TestDamage: damage with good records after it is not a torn tail:
// recovery refuses with an error naming the file, and changes nothing.
func TestDamage(t *testing.T) {
	dir := t.TempDir()
	fill(t, dir, 10, file.Options{})
	path := newestSegment(t, dir)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[40] ^= 0x01 // inside the first record
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, err = reopen(t, dir)
	if !errors.Is(err, file.ErrDamaged) || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Open of a damaged segment: %v; want one line wrapping ErrDamaged and naming %s", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, data) {
		t.Fatal("a refused recovery changed the file")
	}
}

// TestBadDataDirectory: a data directory that is not one gives one clear
// error and changes nothing.
func TestBadDataDirectory(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the Dir to open
		want  string
	}{
		{"a file, not a directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "plain")
			os.WriteFile(p, []byte("x"), 0o644)
			return p
		}, "not a directory"},
		{"another program's directory", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "ringchat-store"), []byte("something else\n"), 0o644)
			return dir
		}, "not a ringchat data directory"},
		{"a room without its epoch", func(t *testing.T, dir string) string {
			fill(t, dir, 1, file.Options{})
			os.Remove(filepath.Join(dir, "rooms", "room-lobby", "epoch"))
			return dir
		}, "without its epoch file"},
		{"an epoch file of another room", func(t *testing.T, dir string) string {
			fill(t, dir, 1, file.Options{})
			os.WriteFile(filepath.Join(dir, "rooms", "room-lobby", "epoch"), []byte("ringchat room\nroom other\nepoch 1234\n"), 0o644)
			return dir
		}, "not the epoch file of room"},
		{"a segment that is not one", func(t *testing.T, dir string) string {
			fill(t, dir, 1, file.Options{})
			os.WriteFile(newestSegment(t, dir), []byte("GIF89a and then some"), 0o644)
			return dir
		}, "bad magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t, t.TempDir())
			s, err := file.Open(file.Options{Dir: dir, Logger: quiet})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Open: %v; want one line saying %q", err, tt.want)
			}
		})
	}
}

// TestLocked: a second store on one directory is refused while the first
// is open.
func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := file.Open(file.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s2, err := file.Open(file.Options{Dir: dir, Logger: quiet}); err == nil || !strings.Contains(err.Error(), "in use") {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v; want it refused as in use", err)
	}
}

// TestRoomDirectories: every room name chat accepts has a directory of its
// own, and comes back with its history after a restart.
func TestRoomDirectories(t *testing.T) {
	dir := t.TempDir()
	names := []string{"lobby", ".", "..", "a.b", "日本語", "Zürich", strings.Repeat("щ", 32), "room-x", "x-abc"}
	epochs := map[string]string{}
	s, err := file.Open(file.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		sink := storetest.NewSink()
		l, err := s.Open(name, sink)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, err := l.Append(testEvent(name)); err != nil {
			t.Fatal(err)
		}
		sink.WaitFor(t, 1, 1)
		epochs[name] = l.Epoch()
		l.Close()
	}
	s.Close()
	s, err = file.Open(file.Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, name := range names {
		l, err := s.Open(name, storetest.NewSink())
		if err != nil {
			t.Fatal(err)
		}
		if l.Last() != 1 || l.Epoch() != epochs[name] {
			t.Fatalf("room %q after a restart: Last() %d, epoch %q; want 1, %q", name, l.Last(), l.Epoch(), epochs[name])
		}
		if texts := readTexts(t, l); len(texts) != 1 || texts[0] != name {
			t.Fatalf("room %q reads %q", name, texts)
		}
		l.Close()
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "rooms"))
	if len(entries) != len(names) {
		t.Fatalf("%d room directories for %d rooms", len(entries), len(names))
	}
}
