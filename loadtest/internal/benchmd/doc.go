// Package benchmd writes BENCHMARKS.md for make bench and make soak.
//
// BENCHMARKS.md keeps hand-written prose and generated tables apart: each
// table lives in a region
//
//	<!-- bench:NAME:begin -->
//	...
//	<!-- bench:NAME:end -->
//
// that RewriteRegions replaces as a whole. Everything outside the regions is
// left as it is. RewriteFile does the same to the file, atomically. The
// cell functions format the figures of the tables alike in both reports.
package benchmd
