package loadtest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"ringchat/loadtest"
)

// A small run against a server on this machine, with a progress line on
// stderr and the results as a table.
func ExampleRun() {
	cfg := loadtest.DefaultConfig()
	cfg.URL = "ws://127.0.0.1:8080/ws"
	cfg.Clients, cfg.Senders, cfg.Rate = 500, 50, 1000
	cfg.Duration = 30 * time.Second
	cfg.Progress = loadtest.NewProgressPrinter(os.Stderr, false)

	res, err := loadtest.Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	res.WriteText(os.Stdout)
	if res.Generator.Bottleneck {
		fmt.Println("measure again with fewer clients")
	}
}
