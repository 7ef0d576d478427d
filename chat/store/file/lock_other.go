//go:build !unix

package file

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens the data directory's lock file. Elsewhere than on Unix it
// takes no lock: two processes must not be pointed at one directory.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) { f.Close() }

// syncDir does nothing where directories cannot be synced.
func syncDir(string) error { return nil }
