// Package procstat reads what the load tools report about processes and
// the machine they run on: a process's CPU time and memory from /proc (the
// server under test, by pid), this process's CPU time from getrusage, the
// machine's CPUs, how busy they were and what they are, and open-file
// limits, which it also raises.
//
// It is Linux-only, as the load tools are; a reading that /proc cannot give
// returns an error or a zero value, as each function says.
package procstat
