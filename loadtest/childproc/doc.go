// Package childproc starts and stops the processes the load tools measure:
// a server under test on a free loopback port (Start, for make bench's
// rows and make soak), each in a process group of its own, so that Ctrl-C
// reaches only the tool, which then stops its children, and so that a
// child and whatever it started can be stopped together (KillGroup, also
// for make bench's go test run).
package childproc
