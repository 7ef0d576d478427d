//go:build !linux

package netpoll

import "net"

// Detach returns ErrUnsupported: without epoll, sockets stay in package net.
func Detach(nc net.Conn, waits *Poller) (net.Conn, error) { return nil, ErrUnsupported }
