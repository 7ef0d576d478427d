package childproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ringchat/loadtest/internal/childproctest"
)

// helperSpec starts the test binary playing part (see childproctest.Main).
func helperSpec(part string) Spec {
	return Spec{
		Args:        []string{os.Args[0], AddrPlaceholder},
		Path:        "/ws",
		Env:         []string{childproctest.Env + "=" + part},
		StopTimeout: 10 * time.Second,
	}
}

func TestStartFails(t *testing.T) {
	t.Parallel()
	spec := helperSpec("exit")
	start := time.Now()
	_, err := Start(context.Background(), spec)
	if !errors.Is(err, errExited) || !strings.Contains(err.Error(), "cannot start: bad flag") {
		t.Errorf("Start error %v, want errExited with the helper's stderr", err)
	}
	if d := time.Since(start); d > StartTimeout/2 {
		t.Errorf("took %v to notice the exit", d)
	}
	spec.Args = []string{filepath.Join(t.TempDir(), "no-such-server"), AddrPlaceholder}
	if _, err := Start(context.Background(), spec); err == nil {
		t.Errorf("Start of a missing binary succeeded")
	}
	if _, err := Start(context.Background(), Spec{}); err == nil {
		t.Errorf("Start without a command succeeded")
	}
}

func TestProcessStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		part string
		want string // in Stop's error; "" for none
	}{
		{"floor", ""},
		{"badexit", "going down badly"},
		{"stubborn", "killed"},
	} {
		t.Run(tc.part, func(t *testing.T) {
			t.Parallel()
			spec := helperSpec(tc.part)
			spec.StopTimeout = 10 * time.Second // a busy machine, -race
			if tc.part == "stubborn" {
				spec.StopTimeout = 500 * time.Millisecond
			}
			p, err := Start(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Stop()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Stop = %v, want an error with %q", err, tc.want)
			}
			select {
			case <-p.exited:
			default:
				t.Errorf("process still running after Stop")
			}
		})
	}
}

func TestStartCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := helperSpec("floor")
	spec.Args = []string{"sleep", "60"} // never listens
	if _, err := Start(ctx, spec); !errors.Is(err, context.Canceled) {
		t.Errorf("Start error %v, want context.Canceled", err)
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, "no output"},
		{"a\n\nb\nc\n", 2, "b | c"},
		{"one", 5, "one"},
	} {
		if got := LastLines(tc.in, tc.n); got != tc.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	var tb Tail
	tb.Write([]byte("first line\n"))
	big := strings.Repeat("x", tailMax) + "\nlast line\n"
	if n, err := tb.Write([]byte(big)); n != len(big) || err != nil {
		t.Errorf("Write = %d, %v", n, err)
	}
	got := tb.String()
	if len(got) != tailMax || !strings.HasSuffix(got, "\nlast line\n") || strings.Contains(got, "first") {
		t.Errorf("kept %d bytes, ending %q", len(got), got[len(got)-12:])
	}
}
