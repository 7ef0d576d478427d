package file_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"

	"ringchat/chat/store"
	"ringchat/chat/store/file"
	"ringchat/chat/store/storetest"
	"ringchat/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

// TestStore runs the tests every store passes, under each sync policy, with
// small segments so that reads and retention cross segment boundaries.
func TestStore(t *testing.T) {
	for _, sync := range []file.SyncPolicy{file.SyncEverySec, file.SyncAlways, file.SyncNever} {
		t.Run(sync.String(), func(t *testing.T) {
			open := func(t *testing.T, dir string, ret store.Retention) store.Store {
				s, err := file.Open(file.Options{Dir: dir, Sync: sync, Retention: ret, SegmentBytes: 2048, Logger: quiet})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			storetest.Run(t, storetest.Maker{
				New: func(t *testing.T, ret store.Retention) store.Store { return open(t, t.TempDir(), ret) },
				Reopen: func(t *testing.T, s store.Store, ret store.Retention) store.Store {
					if err := s.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					return open(t, s.(*file.Store).Dir(), ret)
				},
			})
		})
	}
}

// WriteMetrics reports what the writer did.
func TestWriteMetrics(t *testing.T) {
	s, err := file.Open(file.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sink := storetest.NewSink()
	l, err := s.Open("lobby", sink)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		if _, err := l.Append(store.Event{Type: "message", Tail: []byte(`}`), Time: 1}); err != nil {
			t.Fatal(err)
		}
	}
	sink.WaitFor(t, 1, 3)
	s.Flush()
	var b strings.Builder
	s.WriteMetrics(&b)
	for _, want := range []string{"ringchat_store_file_up 1\n", "ringchat_store_file_records_total 3\n", "ringchat_store_file_queued_bytes 0\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}
