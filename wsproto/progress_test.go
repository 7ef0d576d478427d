package wsproto_test

import (
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"ringchat/wsproto"
)

// TestWriteTimeoutSeesAcknowledgements checks how a timed write tells a
// slow reader from a stalled one over real TCP. Over loopback a reader
// whose receive buffer was cut to 4 KiB after connecting passes only some
// 40 KB/s however fast it reads, and the writer's kernel frees the queue's
// memory in chunks of tens of kilobytes, about once a second: a blocked
// write that waits for room — a third of the send buffer, on Linux — sees
// no byte taken for many a timeout. The peer's TCP acknowledges what it
// reads several times a second, though, and that is what the write must
// see: it keeps going while the peer reads, completes when the peer has read
// it all, and fails one timeout after the peer stops reading — not before.
func TestWriteTimeoutSeesAcknowledgements(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("unacknowledged bytes are read on Linux only; elsewhere only bytes the write hands over count")
	}
	const (
		timeout = 400 * time.Millisecond
		chunk   = 2 << 10               // what the peer reads at a time
		every   = 20 * time.Millisecond // and how often
		size    = 256 << 10             // the message: some 100 KB more than the buffers hold
		frame   = size + 10             // with its header
	)
	for _, tc := range []struct {
		name   string
		steady time.Duration // how long the peer reads; 0: until it has the whole frame
		stops  bool          // the peer stops reading after steady
	}{
		{"peer reads nothing", 0, true},
		{"peer reads steadily", 0, false},
		{"peer reads steadily, then stops", 3 * timeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := tcpPair(t)
			a.SetWriteBuffer(64 << 10)
			b.SetReadBuffer(4096)
			c := wsproto.NewConnForTest(a, true, nil, &wsproto.ConnOptions{WriteTimeout: timeout})
			defer c.CloseNow()

			stopped := make(chan time.Time, 1) // when the peer stopped reading
			read := make(chan int, 1)          // how much it read
			go func() {
				buf := make([]byte, chunk)
				total := 0
				tick := time.NewTicker(every)
				defer tick.Stop()
				end := time.Now().Add(tc.steady)
				for total < frame && (tc.steady == 0 && !tc.stops || time.Now().Before(end)) {
					n, err := io.ReadFull(b, buf[:min(chunk, frame-total)])
					total += n
					if err != nil {
						break
					}
					<-tick.C
				}
				stopped <- time.Now()
				read <- total
			}()

			start := time.Now()
			err := c.WriteMessage(wsproto.OpBinary, make([]byte, size))
			ended := time.Now()
			took := ended.Sub(start)
			stop := <-stopped
			total := <-read
			if !tc.stops {
				if err != nil {
					t.Fatalf("WriteMessage to a reader that kept reading = %v after %v, %d bytes read", err, took, total)
				}
				if took < 2*timeout {
					t.Fatalf("the write took %v, under twice WriteTimeout %v: the test proves nothing", took, timeout)
				}
				if total != frame {
					t.Fatalf("the peer read %d bytes, want %d", total, frame)
				}
				t.Logf("the write took %v", took)
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("WriteMessage = %v after %v, want a timeout", err, took)
			}
			if !isClosed(c) {
				t.Error("connection not closed after the write timed out")
			}
			// Cut off one timeout after the peer's last read: not sooner,
			// and not much later (a step is a quarter of the timeout).
			idle := ended.Sub(stop)
			if idle < timeout-10*time.Millisecond || idle > 2*timeout+time.Second {
				t.Errorf("the write gave up %v after the peer stopped reading, with WriteTimeout %v", idle, timeout)
			}
			if took < tc.steady {
				t.Errorf("the write gave up after %v, while the peer was still reading", took)
			}
		})
	}
}
