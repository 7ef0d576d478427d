// Package floor is the floor server of make bench: the least a chat server
// can do for the load generator's clients, so that a run against it shows
// the floor that the kernel, loopback TCP and the generator itself impose,
// and the chat server's figures can be read as multiples of it.
//
// It speaks just enough of RFC 6455 and of CONTRACT.md for the generator:
// the handshake, a welcome event, and every text frame a member sends
// published to its room as a message event with consecutive ids. It checks
// nothing else. cmd/loadtest -floor-serve runs it in a process of its own,
// so that its CPU and memory are measured apart from the generator's.
package floor
