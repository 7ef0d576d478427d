// Package bench is the driver of make bench: it measures the chat server
// with the load generator and writes the tables of BENCHMARKS.md.
//
// Run (cmd/bench, run by make bench) runs a matrix of rows (DefaultRows),
// each against a fresh server process that childproc.Start starts on a
// free loopback port and Process.Stop ends with SIGTERM: the chat server,
// or the floor server (package ringchat/loadtest/floor) at the same load
// right after it, so that their ratios compare like with like. Each row is
// one loadtest.Run, reading the server's CPU and memory by pid. Then
// RunGoBench runs go test -bench over wsproto and chat, one package at a
// time, and ParseGoBench takes the median of every figure. The whole run
// keeps to Config.Budget.
//
// Report.Regions renders the tables and WriteBenchmarks puts them into the
// marked regions of BENCHMARKS.md, leaving the prose around them alone.
// The idle region sets the RSS per idle connection of the largest rows
// beside the target (IdleTargetBytes).
package bench
