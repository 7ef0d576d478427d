package childproc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"ringchat/loadtest/childproc"
	"ringchat/loadtest/internal/runtest"
)

// TestStart starts the floor server as a child process and load-tests it,
// reading its resources by pid.
func TestStart(t *testing.T) {
	t.Parallel()
	p, err := childproc.Start(context.Background(), childproc.HelperSpec("floor"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if !strings.HasPrefix(p.URL, "ws://127.0.0.1:") || !strings.HasSuffix(p.URL, "/ws") {
		t.Errorf("URL %q", p.URL)
	}
	if n, err := p.FileLimit(); err != nil || n < 64 {
		t.Errorf("FileLimit = %d, %v", n, err)
	}
	cfg := runtest.QuickConfig(p.URL)
	cfg.Clients, cfg.Senders, cfg.Duration = 10, 2, 300*time.Millisecond
	cfg.ServerPID = p.Pid()
	res := runtest.Run(t, cfg)
	runtest.CheckClean(t, res)
	if res.Server == nil || res.Server.Error != "" || res.Server.RSSConnectedBytes == 0 {
		t.Errorf("server stats %+v", res.Server)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.Pid())); err == nil {
		t.Errorf("process %d still exists after Stop", p.Pid())
	}
}
