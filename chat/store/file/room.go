package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"ringchat/chat/store"
)

// roomState is one room of the store: an entry of a few words while the
// room is idle, its open files, indexes and unwritten events while in use.
type roomState struct {
	s     *Store
	name  string
	dir   string // its directory
	epoch string

	mu        sync.Mutex
	onDisk    bool           // its directory exists (rooms are created on disk with their first event)
	segs      []*segment     // oldest first
	claimed   uint64         // the newest id given out
	written   uint64         // the newest id handed to the operating system: ids up to it are in segs
	unwritten []store.Record // ids written+1 to claimed, in order, until the writer has written them
	open      *roomLog       // the log the room is open as, nil when closed
	sink      store.Sink     // open's sink
	lastUse   time.Time      // when it was last opened or closed
	ageID     uint64         // a cached answer of ageOldest: the first id not past the age...
	ageTime   int64          // ...and its time: still right while the cutoff is not past it

	last atomic.Uint64 // Last(): claimed, or, when syncing always, the newest delivered

	// Owned by the writer goroutine.
	file     *os.File // the newest segment, open for appending; nil when closed
	dirty    bool     // written since it was last synced
	lastTick uint64   // the writer's batch count at its last write, to close the least recently written
}

// segPath returns the path of one of the room's segment files.
func (rs *roomState) segPath(seg *segment) string {
	return filepath.Join(rs.dir, segmentName(seg.first))
}

// roomLog is an open room: a store.Log.
type roomLog struct{ rs *roomState }

// Epoch implements store.Log.
func (l *roomLog) Epoch() string { return l.rs.epoch }

// Last implements store.Log.
func (l *roomLog) Last() uint64 { return l.rs.last.Load() }

// Oldest implements store.Log.
func (l *roomLog) Oldest() uint64 {
	rs := l.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.oldestLocked(time.Now())
}

// Append implements store.Log.
func (l *roomLog) Append(e store.Event) (uint64, error) {
	rs, s := l.rs, l.rs.s
	rs.mu.Lock()
	if rs.open != l {
		rs.mu.Unlock()
		return 0, store.ErrClosed
	}
	id := rs.claimed + 1
	frame, body := e.Frame(id)
	rec := store.Record{ID: id, Time: e.Time, Body: body}
	always := s.opts.Sync == SyncAlways
	var queued []byte
	if always {
		queued = frame // delivered by the writer once synced
	}
	if err := s.w.enqueue(rs, rec, queued); err != nil {
		rs.mu.Unlock()
		return 0, err
	}
	rs.claimed = id
	rs.unwritten = append(rs.unwritten, rec)
	sink := rs.sink
	if !always {
		rs.last.Store(id)
	}
	rs.mu.Unlock()
	if !always {
		sink.Deliver(id, frame)
	}
	return id, nil
}

// Close implements store.Log.
func (l *roomLog) Close() error {
	rs := l.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.open == l {
		rs.open, rs.sink, rs.lastUse = nil, nil, time.Now()
	}
	return nil
}

// Read implements store.Log.
func (l *roomLog) Read(from uint64, dst []store.Record) ([]store.Record, error) {
	dst = dst[:0]
	budget := store.ReadBytesLimit
	for attempt := 0; len(dst) < cap(dst) && budget > 0; {
		n := len(dst)
		var err error
		var used int
		dst, used, err = l.rs.read(from, dst, budget)
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			attempt++
			continue // retention removed the segment meanwhile: look again
		}
		if err != nil || len(dst) == n {
			return dst, err
		}
		from, budget = dst[len(dst)-1].ID+1, budget-used
	}
	return dst, nil
}

// read appends to dst the records from `from` on that one place holds:
// memory, for events not yet written, or the segment that holds from; at
// most budget bytes of bodies (but at least one record). It returns the
// bytes it used.
func (rs *roomState) read(from uint64, dst []store.Record, budget int) ([]store.Record, int, error) {
	rs.mu.Lock()
	from = max(from, rs.oldestLocked(time.Now()))
	if from > rs.claimed {
		rs.mu.Unlock()
		return dst, 0, nil
	}
	bytes := 0
	if from > rs.written {
		for _, r := range rs.unwritten[from-rs.written-1:] {
			if len(dst) == cap(dst) || bytes >= budget {
				break
			}
			dst = append(dst, r)
			bytes += len(r.Body)
		}
		rs.mu.Unlock()
		return dst, bytes, nil
	}
	i := len(rs.segs) - 1
	for i > 0 && rs.segs[i].first > from {
		i--
	}
	seg := rs.segs[i]
	path, first, size := rs.segPath(seg), seg.first, seg.size
	index := seg.index
	rs.mu.Unlock()

	if index == nil {
		var err error
		if index, err = buildIndex(path, first, size); err != nil {
			return dst, 0, err
		}
		rs.mu.Lock()
		if seg.index == nil && seg.size == size {
			seg.index = index
		}
		rs.mu.Unlock()
	}
	if len(index) == 0 {
		return dst, 0, nil
	}
	k := int((from - first) / indexEvery)
	if k >= len(index) {
		k = len(index) - 1
	}
	f, err := os.Open(path)
	if err != nil {
		return dst, 0, err
	}
	defer f.Close()
	sc := newScanner(f, index[k], min(budget, store.ReadBytesLimit)+4<<10)
	want := first + uint64(k)*indexEvery
	for len(dst) < cap(dst) && bytes < budget {
		r, n, err := sc.next()
		if err == io.EOF || sc.offset >= size { // the end, or what was written after the snapshot
			break
		}
		if err == nil && r.ID != want {
			err = fmt.Errorf("record with id %d where %d was due", r.ID, want)
		}
		if err != nil {
			return dst, bytes, fmt.Errorf("file: %w: %s at offset %d: %v", ErrDamaged, path, sc.offset, err)
		}
		want++
		if r.ID < from {
			continue
		}
		dst = append(dst, r)
		bytes += n
	}
	return dst, bytes, nil
}

// oldestLocked returns the oldest id the room retains at now: no more than
// Retention.Events of the newest, none older than Retention.Age, and none
// before the first on disk. The caller holds mu.
func (rs *roomState) oldestLocked(now time.Time) uint64 {
	ret := rs.s.opts.Retention
	last := rs.claimed
	oldest := uint64(1)
	if last >= uint64(ret.Events) {
		oldest = last - uint64(ret.Events) + 1
	}
	if len(rs.segs) > 0 {
		oldest = max(oldest, rs.segs[0].first)
	} else {
		oldest = max(oldest, rs.written+1)
	}
	return max(oldest, rs.ageOldest(ret.Cutoff(now)))
}

// ageOldest returns the first id whose time is not before cutoff, or
// claimed+1 if there is none. Times follow ids (but for clocks that step
// back): segments whose successor begins before the cutoff are past it
// whole, and one segment at most is scanned. The answer is kept, and holds
// while the cutoff has not passed its time. The caller holds mu.
func (rs *roomState) ageOldest(cutoff int64) uint64 {
	if rs.ageID > 0 && cutoff <= rs.ageTime && rs.ageID <= rs.claimed {
		return rs.ageID
	}
	for i, seg := range rs.segs {
		if seg.first > rs.written {
			break // an empty newest segment
		}
		if i+1 < len(rs.segs) && rs.segs[i+1].first <= rs.written && rs.segs[i+1].firstTime < cutoff {
			continue // every event in seg is older than its successor's first
		}
		if seg.firstTime >= cutoff {
			return rs.remember(seg.first, seg.firstTime)
		}
		if id, t, ok := rs.scanForTime(seg, cutoff); ok {
			return rs.remember(id, t)
		}
	}
	for _, r := range rs.unwritten {
		if r.Time >= cutoff {
			return rs.remember(r.ID, r.Time)
		}
	}
	return rs.claimed + 1
}

func (rs *roomState) remember(id uint64, t int64) uint64 {
	rs.ageID, rs.ageTime = id, t
	return id
}

// scanForTime reads seg for its first record not older than cutoff. A
// segment that cannot be read counts as past the age: the reader that
// wants it will hear why.
func (rs *roomState) scanForTime(seg *segment, cutoff int64) (uint64, int64, bool) {
	f, err := os.Open(rs.segPath(seg))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	sc := newScanner(f, int64(len(segmentMagic)), scanChunk)
	for {
		r, _, err := sc.next()
		if err != nil || sc.offset >= seg.size {
			return 0, 0, false
		}
		if r.Time >= cutoff {
			return r.ID, r.Time, true
		}
	}
}

// The epoch file of a room: written once, when the room's first event is.
const epochFileHeader = "ringchat room\n"

func epochFile(room, epoch string) []byte {
	return fmt.Appendf(nil, "%sroom %s\nepoch %s\n", epochFileHeader, room, epoch)
}

// readEpochFile reads a room's epoch, checking that the file names room.
func readEpochFile(path, room string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("file: %w: a room without its epoch file: %w", ErrDamaged, err)
	}
	rest, ok := strings.CutPrefix(string(b), epochFileHeader)
	var name, epoch string
	if ok {
		_, err = fmt.Sscanf(rest, "room %s\nepoch %s\n", &name, &epoch)
	}
	if !ok || err != nil || name != room || epoch == "" || len(epoch) > 64 {
		return "", fmt.Errorf("file: %w: %s: not the epoch file of room %q", ErrDamaged, path, room)
	}
	return epoch, nil
}

// newRoomPrefix names a room directory while it is being created: it gets
// its name once its epoch file is in it, so a crash never leaves a room
// without one.
const newRoomPrefix = ".new-"

// createOnDisk makes the room's directory with its epoch file. Called by
// the writer before the room's first segment.
func (rs *roomState) createOnDisk() error {
	rooms := filepath.Dir(rs.dir)
	tmp, err := os.MkdirTemp(rooms, newRoomPrefix)
	if err != nil {
		return err
	}
	if err := writeFileSynced(filepath.Join(tmp, "epoch"), epochFile(rs.name, rs.epoch)); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := syncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Rename(tmp, rs.dir); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	return syncDir(rooms)
}
