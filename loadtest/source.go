package loadtest

import (
	"net"
	"syscall"
)

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// sourceDialer returns a dialer whose connections leave from ip. On Linux
// the socket is bound with IP_BIND_ADDRESS_NO_PORT, so that the port is
// chosen at connect, for the whole address pair, rather than at bind, where
// one source address would have one port range for every destination.
func sourceDialer(ip net.IP) *net.Dialer {
	return &net.Dialer{
		KeepAlive: -1,
		LocalAddr: &net.TCPAddr{IP: ip},
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = setNoPort(int(fd))
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}
