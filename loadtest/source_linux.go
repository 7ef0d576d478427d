package loadtest

import "syscall"

func setNoPort(fd int) error {
	// Only a hint: an old kernel without it still binds, with a port.
	syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	return nil
}
