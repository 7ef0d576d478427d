package file

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
)

// writer is the store's one writing goroutine. Appends queue their records
// (enqueue); the writer takes everything queued at once, writes each room's
// share with one write to the room's newest segment, rolls segments that
// are full, syncs as the policy says, and — when syncing always — delivers
// the events it has made durable. Every second it syncs (everysec), and
// every ten it deletes segments past retention and releases idle rooms.
type writer struct {
	s    *Store
	opts *Options

	mu      sync.Mutex
	queue   []queued
	bytes   int64 // of the queued bodies
	failing error // why the last write or sync failed; appends are refused meanwhile
	stopped bool
	wake    chan struct{} // a signal that the queue is not empty
	stopCh  chan struct{}
	maint   chan maintainRequest // maintenance asked for now (tests)
	done    chan struct{}
	err     error // what went wrong while stopping

	// Counted by the goroutine, read by WriteMetrics.
	records, written, syncs, deleted atomic.Uint64

	// Owned by the goroutine.
	spare     []queued        // the queue's other buffer
	retry     []queued        // written by no one yet: a write failed
	undeliver []queued        // SyncAlways: written, not yet synced
	open      []*roomState    // rooms whose newest segment is open
	dirty     []*roomState    // rooms written since the last sync
	dirtyDirs map[string]bool // directories whose entries changed since the last sync
	tick      uint64          // batches written
	buf       []byte          // records encoded for one write
}

// maintainRequest asks the writer to write and sync what is queued, and
// then for maintenance as if the time were now, unless now is zero.
type maintainRequest struct {
	now  time.Time
	done chan struct{}
}

// queued is an event waiting for the writer.
type queued struct {
	rs    *roomState
	rec   store.Record
	frame []byte // SyncAlways: delivered once durable
}

func startWriter(s *Store) *writer {
	w := &writer{
		s: s, opts: &s.opts,
		wake: make(chan struct{}, 1), stopCh: make(chan struct{}), done: make(chan struct{}),
		maint:     make(chan maintainRequest),
		dirtyDirs: make(map[string]bool),
	}
	go w.run()
	return w
}

// enqueue queues a record for writing, or says why it cannot be taken.
// The caller holds rs.mu, so a room's records queue in id order.
func (w *writer) enqueue(rs *roomState, rec store.Record, frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		return store.ErrClosed
	case w.failing != nil:
		return fmt.Errorf("%w: %v", store.ErrUnavailable, w.failing)
	case w.bytes > w.opts.MaxQueued:
		return fmt.Errorf("%w: the disk is not keeping up (%d MiB waiting)", store.ErrUnavailable, w.bytes>>20)
	}
	w.queue = append(w.queue, queued{rs: rs, rec: rec, frame: frame})
	w.bytes += int64(len(rec.Body))
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// stop writes what is queued, syncs and closes every file, and ends the
// goroutine.
func (w *writer) stop() error {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	close(w.stopCh)
	<-w.done
	return w.err
}

func (w *writer) run() {
	defer close(w.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	seconds := 0
	for {
		select {
		case <-w.wake:
			w.drain()
		case <-t.C:
			w.drain() // retries a failed write, too
			if w.opts.Sync == SyncEverySec || len(w.undeliver) > 0 {
				w.syncAll()
			}
			if seconds++; seconds%10 == 0 {
				w.maintain(time.Now())
			}
		case req := <-w.maint:
			w.drain()
			w.syncAll()
			if !req.now.IsZero() {
				w.maintain(req.now)
			}
			close(req.done)
		case <-w.stopCh:
			w.drain()
			w.syncAll()
			w.closeFiles()
			w.mu.Lock()
			if n := len(w.queue) + len(w.retry) + len(w.undeliver); n > 0 || w.failing != nil {
				w.err = fmt.Errorf("file: %d events could not be written to disk: %v", n, w.failing)
			}
			w.mu.Unlock()
			return
		}
	}
}

// drain writes everything queued, and, when syncing always, syncs and
// delivers it.
func (w *writer) drain() {
	w.mu.Lock()
	batch := w.queue
	w.queue = w.spare[:0]
	w.mu.Unlock()
	if len(w.retry) > 0 {
		batch = append(w.retry, batch...)
		w.retry = nil
	}
	if len(batch) == 0 {
		w.spare = batch
		return
	}
	w.tick++
	failed, err := w.writeBatch(batch)
	w.mu.Lock()
	for _, q := range batch {
		w.bytes -= int64(len(q.rec.Body))
	}
	for _, q := range failed {
		w.bytes += int64(len(q.rec.Body))
	}
	w.mu.Unlock()
	w.retry = failed
	if err != nil {
		w.fail(err)
		clear(batch)
		w.spare = batch[:0]
		return
	}
	if w.opts.Sync == SyncAlways {
		w.syncAll()
	} else {
		w.recover()
	}
	clear(batch)
	w.spare = batch[:0]
}

// writeBatch writes each room's records of the batch, in order. It returns
// the records of rooms whose write failed, to be tried again.
func (w *writer) writeBatch(batch []queued) (failed []queued, err error) {
	for start := 0; start < len(batch); {
		// One room's run of records; runs of one room may repeat in a
		// batch, each written in turn, so order within a room holds.
		rs, end := batch[start].rs, start+1
		for end < len(batch) && batch[end].rs == rs {
			end++
		}
		if werr := w.writeRoom(rs, batch[start:end]); werr != nil {
			// What the room's write got onto disk before it failed
			// (segments it filled before a new one could not be made)
			// stays; the rest, and every later room, is tried again.
			rs.mu.Lock()
			written := rs.written
			rs.mu.Unlock()
			for _, q := range batch[start:end] {
				if q.rec.ID > written {
					failed = append(failed, q)
				} else if w.opts.Sync == SyncAlways {
					w.undeliver = append(w.undeliver, q)
				}
			}
			failed = append(failed, batch[end:]...)
			return failed, werr
		}
		if w.opts.Sync == SyncAlways {
			w.undeliver = append(w.undeliver, batch[start:end]...)
		}
		start = end
	}
	return nil, nil
}

// writeRoom appends records (consecutive ids of one room) to its newest
// segment, rolling to a new one when the segment is full.
func (w *writer) writeRoom(rs *roomState, recs []queued) error {
	if err := w.ensureOnDisk(rs); err != nil {
		return err
	}
	rs.mu.Lock()
	var seg *segment
	if len(rs.segs) > 0 {
		seg = rs.segs[len(rs.segs)-1]
	}
	rs.mu.Unlock()
	if seg == nil {
		var err error
		if seg, err = w.roll(rs, recs[0].rec.ID); err != nil {
			return err
		}
	}
	w.buf = w.buf[:0]
	from := 0
	for i, q := range recs {
		size := int64(recordSize(q.rec.Body))
		hasRecords := seg.size > int64(len(segmentMagic)) || len(w.buf) > 0
		if hasRecords && seg.size+int64(len(w.buf))+size > w.opts.SegmentBytes {
			if err := w.flush(rs, seg, recs[from:i]); err != nil {
				return err
			}
			var err error
			if seg, err = w.roll(rs, q.rec.ID); err != nil {
				return err
			}
			from = i
		}
		w.buf = appendRecord(w.buf, q.rec)
	}
	return w.flush(rs, seg, recs[from:])
}

// flush writes w.buf, the encoded recs, at the end of seg, and records
// what it wrote. On a failed write the file is cut back to where it was.
func (w *writer) flush(rs *roomState, seg *segment, recs []queued) error {
	if len(recs) == 0 {
		return nil
	}
	f, err := w.fileFor(rs, seg)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(w.buf, seg.size); err != nil {
		_ = f.Truncate(seg.size)
		return fmt.Errorf("writing %s: %w", rs.segPath(seg), err)
	}
	w.records.Add(uint64(len(recs)))
	w.written.Add(uint64(len(w.buf)))
	rs.mu.Lock()
	offset := seg.size
	indexed := seg.index != nil || seg.size == int64(len(segmentMagic))
	for _, q := range recs {
		if seg.size == int64(len(segmentMagic)) && offset == seg.size {
			seg.firstTime = q.rec.Time
		}
		if indexed && (q.rec.ID-seg.first)%indexEvery == 0 {
			seg.index = append(seg.index, offset)
		}
		offset += int64(recordSize(q.rec.Body))
	}
	seg.size = offset
	n := len(recs)
	rs.written = recs[n-1].rec.ID
	clear(rs.unwritten[:n])
	rs.unwritten = rs.unwritten[n:]
	rs.mu.Unlock()
	w.buf = w.buf[:0]
	if !rs.dirty {
		rs.dirty = true
		w.dirty = append(w.dirty, rs)
	}
	rs.lastTick = w.tick
	return nil
}

// ensureOnDisk creates the room's directory before its first event.
func (w *writer) ensureOnDisk(rs *roomState) error {
	rs.mu.Lock()
	onDisk := rs.onDisk
	rs.mu.Unlock()
	if onDisk {
		return nil
	}
	if err := rs.createOnDisk(); err != nil {
		return fmt.Errorf("creating %s: %w", rs.dir, err)
	}
	rs.mu.Lock()
	rs.onDisk = true
	rs.mu.Unlock()
	return nil
}

// roll closes the room's newest segment and starts a new one at id first.
func (w *writer) roll(rs *roomState, first uint64) (*segment, error) {
	if rs.file != nil {
		if err := w.closeFile(rs); err != nil {
			return nil, err
		}
	}
	seg := &segment{first: first, size: int64(len(segmentMagic))}
	path := rs.segPath(seg)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(segmentMagic), 0); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	w.adopt(rs, f)
	w.dirtyDirs[rs.dir] = true
	rs.mu.Lock()
	rs.segs = append(rs.segs, seg)
	rs.mu.Unlock()
	return seg, nil
}

// fileFor returns the room's newest segment open for writing, opening it
// if it is not, and closing the least recently written file if too many
// are open.
func (w *writer) fileFor(rs *roomState, seg *segment) (*os.File, error) {
	if rs.file != nil {
		return rs.file, nil
	}
	f, err := os.OpenFile(rs.segPath(seg), os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	w.adopt(rs, f)
	return f, nil
}

// adopt makes f the room's open file, keeping at most MaxOpenFiles open.
func (w *writer) adopt(rs *roomState, f *os.File) {
	if len(w.open) >= w.opts.MaxOpenFiles {
		lru := 0
		for i, o := range w.open {
			if o.lastTick < w.open[lru].lastTick {
				lru = i
			}
		}
		if err := w.closeFile(w.open[lru]); err != nil {
			w.fail(err)
		}
	}
	rs.file, rs.lastTick = f, w.tick
	w.open = append(w.open, rs)
}

// closeFile syncs the room's open file if it is dirty, and closes it.
func (w *writer) closeFile(rs *roomState) error {
	f := rs.file
	var err error
	if rs.dirty {
		err = datasync(f)
		rs.dirty = err != nil
	}
	if rs.dirty {
		return fmt.Errorf("syncing %s: %w", f.Name(), err) // keep it open: the sync is retried
	}
	rs.file = nil
	for i, o := range w.open {
		if o == rs {
			w.open = append(w.open[:i], w.open[i+1:]...)
			break
		}
	}
	if cerr := f.Close(); cerr != nil {
		return fmt.Errorf("closing %s: %w", f.Name(), cerr)
	}
	return nil
}

// syncAll makes everything written durable, then delivers what waited for
// that (SyncAlways).
func (w *writer) syncAll() {
	var err error
	kept := w.dirty[:0]
	for _, rs := range w.dirty {
		if !rs.dirty || rs.file == nil {
			continue
		}
		if serr := datasync(rs.file); serr != nil {
			err = errors.Join(err, fmt.Errorf("syncing %s: %w", rs.file.Name(), serr))
			kept = append(kept, rs)
			continue
		}
		w.syncs.Add(1)
		rs.dirty = false
	}
	clear(w.dirty[len(kept):])
	w.dirty = kept
	for dir := range w.dirtyDirs {
		if serr := syncDir(dir); serr != nil {
			err = errors.Join(err, fmt.Errorf("syncing %s: %w", dir, serr))
			continue
		}
		delete(w.dirtyDirs, dir)
	}
	if err != nil {
		w.fail(err)
		return
	}
	w.deliver()
	w.recover()
}

// deliver hands the events that are now durable to their rooms (SyncAlways).
func (w *writer) deliver() {
	for _, q := range w.undeliver {
		rs := q.rs
		rs.mu.Lock()
		rs.last.Store(q.rec.ID)
		sink := rs.sink
		rs.mu.Unlock()
		if sink != nil {
			sink.Deliver(q.rec.ID, q.frame)
		}
	}
	clear(w.undeliver)
	w.undeliver = w.undeliver[:0]
}

// fail refuses appends until writing works again, logging the first
// failure of a run of them.
func (w *writer) fail(err error) {
	w.mu.Lock()
	first := w.failing == nil
	w.failing = err
	w.mu.Unlock()
	if first {
		w.s.log.Error("the history store cannot write; new events are refused until it can", "err", err)
	}
}

// recover takes appends again after a failure, once writing works.
func (w *writer) recover() {
	if len(w.retry) > 0 {
		return
	}
	w.mu.Lock()
	was := w.failing
	w.failing = nil
	w.mu.Unlock()
	if was != nil {
		w.s.log.Info("the history store writes again", "after", was)
	}
}

// closeFiles syncs and closes every open file.
func (w *writer) closeFiles() {
	for len(w.open) > 0 {
		if err := w.closeFile(w.open[0]); err != nil {
			w.fail(err)
			w.open[0].file.Close()
			w.open[0].file = nil
			w.open = w.open[1:]
		}
	}
}

// maintain deletes the segments whose events are all past retention — a
// room's newest excepted — and releases what idle rooms hold in memory.
func (w *writer) maintain(now time.Time) {
	w.s.mu.Lock()
	rooms := make([]*roomState, 0, len(w.s.rooms))
	for _, rs := range w.s.rooms {
		rooms = append(rooms, rs)
	}
	w.s.mu.Unlock()
	for _, rs := range rooms {
		rs.mu.Lock()
		oldest := rs.oldestLocked(now)
		var doomed []*segment
		for len(rs.segs) > 1 && rs.segs[1].first <= oldest {
			doomed = append(doomed, rs.segs[0])
			rs.segs = rs.segs[1:]
		}
		idle := rs.open == nil && now.Sub(rs.lastUse) > w.opts.IdleAfter && len(rs.unwritten) == 0
		if idle {
			for _, seg := range rs.segs {
				seg.index = nil
			}
			rs.ageID, rs.ageTime = 0, 0
			rs.unwritten = nil
		}
		rs.mu.Unlock()
		for _, seg := range doomed {
			if err := os.Remove(rs.segPath(seg)); err != nil {
				w.s.log.Warn("cannot delete a segment past retention", "err", err)
			} else {
				w.deleted.Add(1)
			}
			w.dirtyDirs[rs.dir] = true
		}
		if idle && rs.file != nil {
			if err := w.closeFile(rs); err != nil {
				w.fail(err)
			}
		}
	}
}
