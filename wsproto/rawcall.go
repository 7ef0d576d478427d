package wsproto

import "sync"

// rawCall carries the arguments and results of one system call made through
// syscall.RawConn, whose callbacks are given only the file descriptor: the
// frames of a write that must not wait (TryWriteFrames), or the count of a
// socket's unacknowledged bytes (unacked). A call takes one from
// rawCallPool and returns it, so that an idle Conn holds none: at tens of
// thousands of connections, the fields and the two bound callbacks are a
// tenth of a connection's memory.
type rawCall struct {
	frames [][]byte // writeNow's input
	n      int      // and its results
	err    error    //
	outq   int32    // readOutq's result; -1: unknown

	writeNow func(fd uintptr) bool // r.writeNowCallback, bound once per rawCall
	readOutq func(fd uintptr)      // r.outqCallback, bound once per rawCall
}

var rawCallPool = sync.Pool{New: func() any {
	r := new(rawCall)
	r.writeNow = r.writeNowCallback
	r.readOutq = r.outqCallback
	return r
}}

// getRawCall returns a rawCall with its arguments and results cleared.
func getRawCall() *rawCall { return rawCallPool.Get().(*rawCall) }

// put clears r and returns it to the pool.
func (r *rawCall) put() {
	r.frames, r.n, r.err, r.outq = nil, 0, nil, 0
	rawCallPool.Put(r)
}
