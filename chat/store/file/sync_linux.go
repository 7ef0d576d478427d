package file

import (
	"os"
	"syscall"
)

// datasync makes a file's data durable without its metadata times
// (fdatasync(2)).
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
