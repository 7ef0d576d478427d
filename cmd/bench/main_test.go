package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRunFlags(t *testing.T) {
	dir := t.TempDir()
	server, lt := filepath.Join(dir, "server"), filepath.Join(dir, "loadtest")
	for _, f := range []string{server, lt} {
		os.WriteFile(f, []byte("#!/bin/sh\nexit 1\n"), 0o755)
	}
	bins := []string{"-server", server, "-loadtest", lt}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring
		stderr string // a substring; the whole of stderr is one line when code is 2
	}{
		{"help", []string{"-h"}, 0, "-budget", ""},
		{"unknown flag", []string{"-colour"}, 2, "", "colour"},
		{"argument", append(slices.Clone(bins), "extra"), 2, "", "extra"},
		{"bad scale", append(slices.Clone(bins), "-scale", "2"), 2, "", "-scale"},
		{"bad duration", append(slices.Clone(bins), "-duration", "0s"), 2, "", "-duration"},
		{"bad count", append(slices.Clone(bins), "-count", "0"), 2, "", "-count"},
		{"bad benchtime", append(slices.Clone(bins), "-benchtime", "soon"), 2, "", "-benchtime"},
		{"gobench time over budget", append(slices.Clone(bins), "-budget", "1m", "-gobench-time", "2m"), 2, "", "-gobench-time"},
		{"no server", []string{"-server", filepath.Join(dir, "none"), "-loadtest", lt}, 2, "", "make build"},
		{"empty out", append(slices.Clone(bins), "-out", ""), 2, "", "-out"},
		{"bad cluster scale", append(slices.Clone(bins), "-cluster", "-cluster-scale", "0"), 2, "", "-cluster-scale"},
		{"cluster without redis", append(slices.Clone(bins), "-cluster", "-redis-server", filepath.Join(dir, "no-redis")), 2, "", "install-redis"},
		{"cluster, server fails", append(slices.Clone(bins), "-cluster", "-cluster-scale", "0.001", "-out", filepath.Join(dir, "none.md")), 1, "", "exited before"},
		{"soak too long", []string{"-soak", "-server", server, "-soak-duration", "10m"}, 2, "", "-soak-duration"},
		{"soak, server fails", []string{"-soak", "-server", server, "-out", filepath.Join(dir, "none.md")}, 1, "", "exited before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), append([]string{"bench"}, tc.args...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
			if tc.code == 2 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("stderr is not one line: %q", stderr.String())
			}
		})
	}
}

func TestParseFlagsWiring(t *testing.T) {
	dir := t.TempDir()
	server, lt := filepath.Join(dir, "server"), filepath.Join(dir, "loadtest")
	for _, f := range []string{server, lt} {
		os.WriteFile(f, nil, 0o755)
	}
	var stdout, stderr strings.Builder
	cfg, opt, code := parseFlags([]string{"-server", server, "-loadtest", lt, "-scale", "0.1", "-no-gobench"}, &stdout, &stderr)
	if code != -1 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if want := []string{server, "-addr", "{addr}"}; !slices.Equal(cfg.Server.Args, want) {
		t.Errorf("server args %q, want %q", cfg.Server.Args, want)
	}
	if want := []string{lt, "-floor-serve", "{addr}"}; !slices.Equal(cfg.Floor.Args, want) {
		t.Errorf("floor args %q, want %q", cfg.Floor.Args, want)
	}
	if want := []string{lt, "-hub-serve", "{addr}"}; !slices.Equal(cfg.Hub.Args, want) {
		t.Errorf("hub args %q, want %q", cfg.Hub.Args, want)
	}
	if cfg.Rows[0].Clients != 100 || len(cfg.GoBench.Packages) != 0 || opt.out != "BENCHMARKS.md" {
		t.Errorf("rows %+v, go bench %+v, out %q", cfg.Rows, cfg.GoBench, opt.out)
	}
}
