package resp_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"ringchat/internal/resp"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want resp.Options
		tls  string // expected ServerName, "" for no TLS
	}{
		{"redis://127.0.0.1:6380", resp.Options{Addr: "127.0.0.1:6380"}, ""},
		{"redis://localhost", resp.Options{Addr: "localhost:6379"}, ""},
		{"redis://", resp.Options{Addr: "localhost:6379"}, ""},
		{"redis://h:1/3", resp.Options{Addr: "h:1", DB: 3}, ""},
		{"redis://h:1/", resp.Options{Addr: "h:1"}, ""},
		{"redis://alice:s3cret@h:1/2", resp.Options{Addr: "h:1", Username: "alice", Password: "s3cret", DB: 2}, ""},
		{"redis://:s3cret@h:1", resp.Options{Addr: "h:1", Password: "s3cret"}, ""},
		{"redis://s3cret@h:1", resp.Options{Addr: "h:1", Password: "s3cret"}, ""},
		{"redis://al%40ce:p%3Aw%2F@h:1", resp.Options{Addr: "h:1", Username: "al@ce", Password: "p:w/"}, ""},
		{"redis://[::1]:7000", resp.Options{Addr: "[::1]:7000"}, ""},
		{"rediss://cache.example:6380/1", resp.Options{Addr: "cache.example:6380", DB: 1}, "cache.example"},
		{"redis://h:1?dial_timeout=2s&read_timeout=150ms&write_timeout=1s&pool_size=4&client_name=node-a",
			resp.Options{Addr: "h:1", DialTimeout: 2 * time.Second, ReadTimeout: 150 * time.Millisecond,
				WriteTimeout: time.Second, PoolSize: 4, ClientName: "node-a"}, ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := resp.ParseURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			serverName := ""
			if got.TLS != nil {
				serverName = got.TLS.ServerName
				got.TLS = nil
			}
			if serverName != tc.tls {
				t.Errorf("TLS server name %q, want %q", serverName, tc.tls)
			}
			if got.Addr != tc.want.Addr || got.Username != tc.want.Username || got.Password != tc.want.Password ||
				got.DB != tc.want.DB || got.DialTimeout != tc.want.DialTimeout || got.ReadTimeout != tc.want.ReadTimeout ||
				got.WriteTimeout != tc.want.WriteTimeout || got.PoolSize != tc.want.PoolSize || got.ClientName != tc.want.ClientName {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://h:1", "scheme"},
		{"h:1", "scheme"},
		{"redis://h:0", "port"},
		{"redis://h:99999", "port"},
		{"redis://h:1/x", "database"},
		{"redis://h:1/-1", "database"},
		{"redis://h:1/1/2", "database"},
		{"redis://h:1?timeout=1s", "unknown option"},
		{"redis://h:1?read_timeout=soon", "read_timeout"},
		{"redis://h:1?pool_size=0", "pool_size"},
		{"redis://h:1?client_name=a%20b", "client_name"},
		{"redis://h:1?pool_size=1&pool_size=2", "2 times"},
		{"redis://h:1#frag", "want redis://"},
		{"redis://u:hunter2@h:x", "bad Redis URL"},
		{"redis://u:hunter2@[::1", "bad Redis URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			_, err := resp.ParseURL(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q quotes the password", err)
			}
		})
	}
}

func TestOptionsString(t *testing.T) {
	for url, want := range map[string]string{
		"redis://alice:s3cret@h:1/2": "redis://alice:xxxxx@h:1/2",
		"rediss://:s3cret@h:1":       "rediss://:xxxxx@h:1",
		"redis://h:1":                "redis://h:1",
	} {
		o, err := resp.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.String(); got != want {
			t.Errorf("%s: String() = %q, want %q", url, got, want)
		}
		if got := fmt.Sprintf("%+v", o); strings.Contains(got, "s3cret") {
			t.Errorf("%%+v shows the password: %s", got)
		}
	}
}

func TestNewClientRefuses(t *testing.T) {
	for _, o := range []resp.Options{{DB: -1}, {ClientName: "a b"}, {Addr: "nohostport"}} {
		if _, err := resp.NewClient(o); err == nil {
			t.Errorf("NewClient(%+v) accepted", o)
		}
		if _, err := resp.NewSubscriber(o, func(resp.Event) {}); err == nil {
			t.Errorf("NewSubscriber(%+v) accepted", o)
		}
	}
}
