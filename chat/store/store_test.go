package store_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"ringchat/chat/store"
	"ringchat/internal/leakcheck"
	"ringchat/wsproto"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

func TestEventFrame(t *testing.T) {
	tests := []struct {
		name string
		id   uint64
		tail string
	}{
		{"first id", 1, `}`},
		{"nine digits to ten", 9, `,"text":"x"}`},
		{"ten", 10, `,"text":"x"}`},
		{"large id", 1<<64 - 1, `,"room":"lobby"}`},
		{"16-bit length", 42, `,"text":"` + strings.Repeat("a", 300) + `"}`},
		{"64-bit length", 7, `,"text":"` + strings.Repeat("b", 70000) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &store.Event{Type: "message", Tail: []byte(tt.tail)}
			want := fmt.Sprintf(`{"type":"message","id":%d%s`, tt.id, tt.tail)
			if got := string(e.AppendBody(nil, tt.id)); got != want {
				t.Fatalf("AppendBody = %s, want %s", got, want)
			}
			if n := e.BodySize(tt.id); n != len(want) {
				t.Fatalf("BodySize = %d, want %d", n, len(want))
			}
			frame, body := e.Frame(tt.id)
			if string(body) != want {
				t.Fatalf("Frame body = %.80s, want %.80s", body, want)
			}
			wantFrame := wsproto.AppendFrame(nil, wsproto.OpText, []byte(want))
			if !bytes.Equal(frame, wantFrame) || len(frame) != cap(frame) {
				t.Fatalf("Frame = %.20q (len %d cap %d), want %.20q", frame, len(frame), cap(frame), wantFrame)
			}
			if &frame[len(frame)-1] != &body[len(body)-1] {
				t.Fatal("Frame's body does not share the frame's memory")
			}
			if got := store.FrameBody(body); !bytes.Equal(got, wantFrame) {
				t.Fatalf("FrameBody = %.20q, want %.20q", got, wantFrame)
			}
		})
	}
}

func TestRetentionDefaults(t *testing.T) {
	r := store.Retention{}.WithDefaults()
	if r.Events != store.DefaultHistory || r.Age != store.DefaultHistoryAge {
		t.Fatalf("defaults %+v", r)
	}
	r = store.Retention{Events: 5, Age: 7}.WithDefaults()
	if r.Events != 5 || r.Age != 7 {
		t.Fatalf("set fields changed: %+v", r)
	}
}

func TestNewEpoch(t *testing.T) {
	a, b := store.NewEpoch(), store.NewEpoch()
	if len(a) != 16 || a == b {
		t.Fatalf("NewEpoch() = %q, %q", a, b)
	}
}
