package chat

import "ringchat/internal/netpoll"

// DetachedSockets reports how many of the server's connections read and
// write a socket taken out of package net (netpoll.Detach), of how many.
func (s *Server) DetachedSockets() (detached, all int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		all++
		if _, ok := c.ws.NetConn().(*netpoll.Conn); ok {
			detached++
		}
	}
	return detached, all
}
