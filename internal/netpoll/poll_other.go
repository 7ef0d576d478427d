//go:build !linux

package netpoll

// Poller is not available on this system: New returns ErrUnsupported.
type Poller struct{}

// New returns ErrUnsupported: there is no epoll here.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(fd int, onReady func()) (Key, error) { return 0, ErrUnsupported }

// Rearm returns ErrUnsupported.
func (p *Poller) Rearm(fd int, k Key) error { return ErrUnsupported }

// Remove returns ErrUnsupported.
func (p *Poller) Remove(fd int, k Key) error { return ErrUnsupported }

// Forget does nothing.
func (p *Poller) Forget(k Key) {}

// Len reports 0.
func (p *Poller) Len() int { return 0 }

// Close returns ErrUnsupported.
func (p *Poller) Close() error { return ErrUnsupported }
