// Command client is ringchat's terminal client: what you type goes to the
// room, what the room says comes back.
//
//	go run ./cmd/client [-url ws://127.0.0.1:8080/ws] [-name alice] [-room lobby]
//
// Lines starting with / are commands (/help lists them). Ctrl-C or the end
// of the input closes the connection; with piped input the client waits for
// its messages to come back from the server before it exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"ringchat/chat"
	"ringchat/chat/client"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := client.Config{In: stdin, Out: stdout, Log: stderr}
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8080/ws", "chat server `URL` (ws:// or wss://)")
	fs.StringVar(&cfg.Name, "name", "", "display `name` (default: the server picks guest-N)")
	fs.StringVar(&cfg.Room, "room", "lobby", "`room` to join")
	fs.IntVar(&cfg.History, "history", 20, "how many of the room's recent `events` to show on joining (0-1000)")
	fs.BoolVar(&cfg.InsecureSkipVerify, "insecure", false, "accept any TLS certificate for wss:// (development servers with self-signed certificates)")
	compression := fs.String("compression", "on", "offer permessage-deflate (RFC 7692), as browsers do: `on` or off")
	fs.DurationVar(&cfg.EchoTimeout, "echo-timeout", 0, "after the input ends, how long to wait for sent messages to come back (default 10s)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintf(stderr, "Usage: client [flags]\n\nChat from a terminal: lines you type go to the room; /help lists the commands.\n\n")
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "client: unexpected argument %q (flags only; see -h)\n", fs.Arg(0))
		return 2
	}
	switch *compression {
	case "on":
		cfg.Compression = true
	case "off":
	default:
		fmt.Fprintf(stderr, "client: invalid -compression %q: want on or off\n", *compression)
		return 2
	}
	if err := checkFlags(cfg); err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := client.Run(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	return 0
}

// checkFlags refuses what the server would refuse anyway, before dialling.
func checkFlags(cfg client.Config) error {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("invalid -url %q: want ws://host:port/path or wss://…", cfg.URL)
	}
	if cfg.Name != "" {
		if _, err := chat.CleanName(cfg.Name); err != nil {
			return fmt.Errorf("invalid -name %q: %v", cfg.Name, strings.TrimPrefix(err.Error(), "chat: "))
		}
	}
	if cfg.History < 0 || cfg.History > chat.MaxHistoryQuery {
		return fmt.Errorf("invalid -history %d: want 0 to %d", cfg.History, chat.MaxHistoryQuery)
	}
	if _, err := chat.CleanRoom(cfg.Room); err != nil {
		return fmt.Errorf("invalid -room %q: %v", cfg.Room, strings.TrimPrefix(err.Error(), "chat: "))
	}
	return nil
}
