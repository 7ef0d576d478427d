// Package bench is the driver of make bench: it measures the chat server
// with the load generator and writes the tables of BENCHMARKS.md.
//
// Run (cmd/bench, run by make bench) runs a matrix of rows (DefaultRows),
// each against a fresh server process that childproc.Start starts on a
// free loopback port and Process.Stop ends with SIGTERM: the chat server,
// the floor server (package ringchat/loadtest/floor) or the conventional
// hub server (package ringchat/loadtest/hub), the three one after the
// other at each load so that their ratios compare like with like. Each row
// is one loadtest.Run, with the row's kind of client (raw, or x/net),
// reading the server's CPU and memory by pid. Then RunGoBench runs go test
// -bench over wsproto, chat and chat/store/file, one package at a time,
// and ParseGoBench takes the median of every figure. The whole run keeps
// to Config.Budget.
//
// Report.Regions renders the tables and WriteBenchmarks puts them into the
// marked regions of BENCHMARKS.md, leaving the prose around them alone.
// The targets region checks issue 13's targets (FloorP99Target,
// FloorCPUTarget, HubP99Target, IdleTarget13Bytes) against the rows with
// raw clients; the readers region sets the x/net rows beside their raw
// twins; the idle region sets the RSS per idle connection of the largest
// rows beside issue 7's target (IdleTargetBytes).
package bench
