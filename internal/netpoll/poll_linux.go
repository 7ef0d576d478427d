package netpoll

import (
	"sync"
	"syscall"
)

// wakeKey is the registration of the pipe that wakes the poller to close.
const wakeKey Key = 0

// Poller waits for readiness on many sockets with one epoll instance and one
// goroutine. Its methods are safe for concurrent use.
type Poller struct {
	epfd     int
	wakeR    int // the read end of the pipe that Close writes to
	wakeW    int
	mu       sync.Mutex
	handlers map[Key]func()
	next     Key
	closed   bool
	loopDone chan struct{}
}

// New starts a Poller and its goroutine.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	p := &Poller{
		epfd:     epfd,
		wakeR:    pipe[0],
		wakeW:    pipe[1],
		handlers: make(map[Key]func()),
		next:     wakeKey + 1,
		loopDone: make(chan struct{}),
	}
	if err := p.ctl(syscall.EPOLL_CTL_ADD, p.wakeR, wakeKey, syscall.EPOLLIN); err != nil {
		p.closeFDs()
		return nil, err
	}
	go p.loop()
	return p, nil
}

// readEvents is what a registration waits for: bytes, the peer's end of
// sending, or an error (EPOLLHUP and EPOLLERR are always reported), once.
const readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// Add registers the open socket fd: onReady is called, on the poller's
// goroutine, the first time fd is readable. It returns the registration's
// Key for Rearm and Remove.
func (p *Poller) Add(fd int, onReady func()) (Key, error) {
	return p.add(fd, readEvents, onReady)
}

// add registers fd to wait, once, for events.
func (p *Poller) add(fd int, events uint32, onReady func()) (Key, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, ErrClosed
	}
	k := p.next
	p.next++
	p.handlers[k] = onReady
	p.mu.Unlock()
	if err := p.ctl(syscall.EPOLL_CTL_ADD, fd, k, events); err != nil {
		p.Forget(k)
		return 0, err
	}
	return k, nil
}

// Rearm watches fd, registered as k, again after its function was called:
// it is called once more when fd is readable — at once if it already is.
func (p *Poller) Rearm(fd int, k Key) error {
	return p.ctl(syscall.EPOLL_CTL_MOD, fd, k, readEvents)
}

// Remove stops watching the open socket fd, registered as k, and forgets k.
// A readiness event already taken from the kernel may still call the
// function once after Remove returns.
func (p *Poller) Remove(fd int, k Key) error {
	p.Forget(k)
	return p.ctl(syscall.EPOLL_CTL_DEL, fd, k, 0)
}

// Forget forgets k, whose socket has been closed: the kernel stops
// watching a socket when it is closed, and the Key is all that is left.
func (p *Poller) Forget(k Key) {
	p.mu.Lock()
	delete(p.handlers, k)
	p.mu.Unlock()
}

// Len reports how many registrations the poller holds.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.handlers)
}

// Close stops the poller's goroutine, waits for it to end and releases
// the epoll instance. Registered sockets are not closed; their functions
// are not called again.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	clear(p.handlers)
	p.mu.Unlock()
	for {
		_, err := syscall.Write(p.wakeW, []byte{1})
		if err != syscall.EINTR {
			break
		}
	}
	<-p.loopDone
	return p.closeFDs()
}

func (p *Poller) closeFDs() error {
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
	return syscall.Close(p.epfd)
}

func (p *Poller) ctl(op, fd int, k Key, events uint32) error {
	ev := syscall.EpollEvent{Events: events}
	setKey(&ev, k)
	for {
		err := syscall.EpollCtl(p.epfd, op, fd, &ev)
		if err != syscall.EINTR {
			return err
		}
	}
}

// setKey and key keep a Key in the event's 64 bits of user data, which the
// syscall package splits into Fd (the low half) and Pad (the high half).
func setKey(ev *syscall.EpollEvent, k Key) {
	ev.Fd = int32(uint32(k))
	ev.Pad = int32(uint32(k >> 32))
}

func key(ev *syscall.EpollEvent) Key {
	return Key(uint32(ev.Fd)) | Key(uint32(ev.Pad))<<32
}

// loop is the poller's goroutine: it waits for readiness and calls the
// registrations' functions, until Close.
func (p *Poller) loop() {
	defer close(p.loopDone)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return // EBADF and the like: the instance is unusable
		}
		for i := range events[:n] {
			k := key(&events[i])
			if k == wakeKey {
				return
			}
			p.mu.Lock()
			f := p.handlers[k]
			p.mu.Unlock()
			if f != nil {
				f()
			}
		}
	}
}
