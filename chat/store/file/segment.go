package file

import (
	"errors"
	"fmt"
	"io"
	"os"

	"ringchat/chat/store"
)

// indexEvery is how many records apart the entries of a segment's sparse
// index are: a read seeks to the entry at or before the id it wants and
// skips at most this many records.
const indexEvery = 64

// segment is one file of a room's log: the records from id first on.
// Guarded by its room's mu.
type segment struct {
	first     uint64 // id of its first record, from its name
	firstTime int64  // time of its first record; 0 while it has none
	size      int64  // bytes of whole records, the magic included

	// index[k] is the offset of the record with id first+k*indexEvery;
	// nil until the segment was scanned or written from its start.
	index []int64
}

// segmentScanner reads a segment's records in order, a chunk at a time.
type segmentScanner struct {
	f      *os.File
	buf    []byte
	start  int64 // file offset of buf[0]
	pos    int   // next record's position in buf
	eof    bool  // buf holds the end of the file
	offset int64 // file offset of the last record returned
}

// scanChunk is how much a scanner reads at once.
const scanChunk = 256 << 10

func newScanner(f *os.File, from int64, chunk int) *segmentScanner {
	return &segmentScanner{f: f, start: from, buf: make([]byte, 0, chunk)}
}

// next returns the next record and its size on disk. At the end of the
// file it returns io.EOF; at bytes that are not a whole record it returns
// the decoding error (errShort for a record cut off by the end of the file).
func (s *segmentScanner) next() (store.Record, int, error) {
	for {
		r, n, err := decodeRecord(s.buf[s.pos:])
		if err == nil {
			s.offset = s.start + int64(s.pos)
			s.pos += n
			return r, n, nil
		}
		if err != errShort {
			s.offset = s.start + int64(s.pos)
			return store.Record{}, 0, err
		}
		if s.eof {
			s.offset = s.start + int64(s.pos)
			if s.pos == len(s.buf) {
				return store.Record{}, 0, io.EOF
			}
			return store.Record{}, 0, errShort
		}
		if err := s.fill(); err != nil {
			return store.Record{}, 0, err
		}
	}
}

// fill moves the unread bytes to the front of the buffer and reads more,
// growing the buffer when a record is larger than it.
func (s *segmentScanner) fill() error {
	rest := len(s.buf) - s.pos
	s.start += int64(s.pos)
	copy(s.buf[:rest], s.buf[s.pos:])
	s.buf, s.pos = s.buf[:rest], 0
	if rest == cap(s.buf) { // a record larger than the buffer
		grown := make([]byte, rest, 2*cap(s.buf))
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.f.ReadAt(s.buf[rest:cap(s.buf)], s.start+int64(rest))
	s.buf = s.buf[:rest+n]
	if err == io.EOF {
		s.eof = true
		return nil
	}
	return err
}

// damageError describes a segment that recovery cannot repair without
// losing good records.
type damageError struct {
	path   string
	offset int64
	cause  error
}

func (e *damageError) Error() string {
	return fmt.Sprintf("%s: damaged at offset %d (%v) with good records after it; not starting, so that nothing is lost: move the file out of the data directory to start without it", e.path, e.offset, e.cause)
}

// ErrDamaged is wrapped by the errors that say a data directory holds
// damage that recovery will not cut away, because good records follow it.
var ErrDamaged = errors.New("file: data directory is damaged")

func (e *damageError) Unwrap() error { return ErrDamaged }

// recovered is what recovery learned of a room's newest segment.
type recovered struct {
	last      uint64  // id of its last good record; first-1 if it has none
	firstTime int64   // time of its first record
	size      int64   // bytes up to the end of its last good record
	index     []int64 // its sparse index
	cut       int64   // bytes cut off its end: a torn or corrupt tail
	cutCause  error
}

// recoverSegment scans the newest segment of a room, which a crash may
// have left with a torn or corrupt tail: whole records in order, then
// perhaps bytes that are not. Those bytes are cut off (the file is
// truncated at the last good record) if no good record follows them; if
// one does, the damage is not a tail and recovery refuses with a
// damageError. Records must have consecutive ids from first.
func recoverSegment(path string, first uint64) (recovered, error) {
	rec := recovered{last: first - 1}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	var magic [len(segmentMagic)]byte
	n, err := f.ReadAt(magic[:], 0)
	switch {
	case n == len(magic) && string(magic[:]) == segmentMagic:
	case err != nil && n < len(magic) && string(magic[:n]) == segmentMagic[:n]:
		// Torn while it was being created: rewrite the magic.
		rec.cut, rec.cutCause = int64(n), errShort
		if err := rewriteMagic(f); err != nil {
			return rec, err
		}
		rec.size = int64(len(segmentMagic))
		return rec, nil
	default:
		return rec, &damageError{path: path, offset: 0, cause: errors.New("not a segment file (bad magic)")}
	}
	rec.size = int64(len(segmentMagic))
	sc := newScanner(f, rec.size, scanChunk)
	for {
		r, n, err := sc.next()
		if err == nil && r.ID != rec.last+1 {
			err = fmt.Errorf("record with id %d where %d was due", r.ID, rec.last+1)
		}
		if err == io.EOF {
			return rec, nil
		}
		if err != nil {
			bad := sc.offset
			if goodAfter(f, bad, rec.last) {
				return rec, &damageError{path: path, offset: bad, cause: err}
			}
			end, serr := f.Seek(0, io.SeekEnd)
			if serr != nil {
				return rec, serr
			}
			rec.cut, rec.cutCause = end-bad, err
			if err := f.Truncate(bad); err != nil {
				return rec, err
			}
			if err := f.Sync(); err != nil {
				return rec, err
			}
			return rec, nil
		}
		if (r.ID-first)%indexEvery == 0 {
			rec.index = append(rec.index, sc.offset)
		}
		if rec.last == first-1 {
			rec.firstTime = r.Time
		}
		rec.last = r.ID
		rec.size = sc.offset + int64(n)
	}
}

func rewriteMagic(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(segmentMagic), 0); err != nil {
		return err
	}
	return f.Sync()
}

// goodAfter reports whether a whole record with an id above last starts
// anywhere in f after offset bad: then the bytes at bad are damage in the
// middle of the log, not a torn tail.
func goodAfter(f *os.File, bad int64, last uint64) bool {
	data, err := readFrom(f, bad+1)
	if err != nil {
		return false
	}
	for i := range data {
		if r, _, err := decodeRecord(data[i:]); err == nil && r.ID > last {
			return true
		}
	}
	return false
}

// readFrom reads f from offset to its end.
func readFrom(f *os.File, offset int64) ([]byte, error) {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if end <= offset {
		return nil, nil
	}
	data := make([]byte, end-offset)
	if _, err := f.ReadAt(data, offset); err != nil && err != io.EOF {
		return nil, err
	}
	return data, nil
}

// firstRecordTime reads the time of the first record of a segment that is
// not the newest (so not torn), and checks the segment's magic.
func firstRecordTime(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var magic [len(segmentMagic)]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != segmentMagic {
		return 0, &damageError{path: path, offset: 0, cause: errors.New("not a segment file (bad magic)")}
	}
	sc := newScanner(f, int64(len(segmentMagic)), 4<<10)
	r, _, err := sc.next()
	if err != nil {
		return 0, &damageError{path: path, offset: sc.offset, cause: fmt.Errorf("first record: %v", err)}
	}
	return r.Time, nil
}

// buildIndex scans a whole segment for its sparse index. Every record must
// be whole and in order: older segments are never torn.
func buildIndex(path string, first uint64, size int64) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := newScanner(f, int64(len(segmentMagic)), scanChunk)
	var index []int64
	want := first
	for {
		r, _, err := sc.next()
		if err == io.EOF || sc.offset >= size { // the end, or what was written after size was taken
			return index, nil
		}
		if err == nil && r.ID != want {
			err = fmt.Errorf("record with id %d where %d was due", r.ID, want)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s at offset %d: %v", ErrDamaged, path, sc.offset, err)
		}
		if (r.ID-first)%indexEvery == 0 {
			index = append(index, sc.offset)
		}
		want++
	}
}
