// Package file is the store that keeps every room's history on disk, in a
// directory of its own: an append-only log per room, in segment files of
// bounded size, each record length-prefixed and checksummed (CRC-32C). It
// is the chat server's default store: history, ids and epochs survive
// restarts and rooms left empty.
//
// One writer goroutine does all the writing, in groups (group commit):
// appends are queued and delivered at once, and the writer puts whatever is
// queued into each room's log with one write, then syncs as the Sync policy
// says — the meaning Redis gives appendfsync: SyncAlways syncs before an
// event is delivered to anyone, SyncEverySec once a second, SyncNever
// leaves it to the operating system. Opening a directory recovers it: a
// torn or corrupt tail of a room's newest segment (a crash in the middle of
// a write) is cut at the last good record and logged; damage with good
// records after it is refused with an error wrapping ErrDamaged, so that
// nothing is ever lost silently.
//
// Layout of the directory:
//
//	ringchat-store                  the format's name and version
//	rooms/room-lobby/epoch          the room's name and epoch, written once
//	rooms/room-lobby/00000000000000000001.log   records from id 1 on
//	rooms/x-<base32>/...            rooms whose names are not plain ASCII
//
// Whole segments are deleted once every event in them is past retention,
// the newest segment of a room excepted: it carries the room's latest id.
// Rooms not used for a while cost only a small entry in memory; their files
// are closed and read again when someone comes back.
package file

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"ringchat/chat/store"
)

// SyncPolicy says when the store makes what it wrote durable (fsync).
type SyncPolicy int

const (
	// SyncEverySec syncs once a second: a power loss loses at most about
	// the last second of events; a crash of the process loses only what
	// it had not yet handed to the operating system (the last moments'
	// queue, normally well under a millisecond).
	SyncEverySec SyncPolicy = iota
	// SyncAlways syncs before an event is delivered to anyone: an event
	// a member has seen is on disk.
	SyncAlways
	// SyncNever leaves syncing to the operating system (and Close).
	SyncNever
)

// ParseSyncPolicy reads a policy by its flag name: always, everysec or no.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch s {
	case "always":
		return SyncAlways, nil
	case "everysec":
		return SyncEverySec, nil
	case "no":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("file: unknown sync policy %q: want always, everysec or no", s)
}

// String returns the policy's flag name.
func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncNever:
		return "no"
	}
	return "everysec"
}

// Options configure a Store. Zero fields take the defaults named.
type Options struct {
	Dir          string          // the data directory; required
	Sync         SyncPolicy      // SyncEverySec
	Retention    store.Retention // store.Retention's defaults
	SegmentBytes int64           // a segment is closed once it holds about this much; 4 MiB
	MaxOpenFiles int             // segment files kept open for appending; 256
	IdleAfter    time.Duration   // a closed room's files and indexes are released after this; 1 minute
	MaxQueued    int64           // bytes waiting for the writer beyond which appends are refused; 64 MiB
	Logger       *slog.Logger    // slog.Default() when nil
}

func (o *Options) setDefaults() {
	o.Retention = o.Retention.WithDefaults()
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = 256
	}
	if o.IdleAfter <= 0 {
		o.IdleAfter = time.Minute
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// storeMagic is the content of the ringchat-store file.
const storeMagic = "ringchat store, format 1\n"

// Store is a store.Store on disk. Create it with Open.
type Store struct {
	opts Options
	dir  string // the data directory
	log  *slog.Logger
	lock *os.File // held (flock) while the store is open

	mu     sync.Mutex
	rooms  map[string]*roomState // every room with history on disk, or open
	closed bool

	w *writer
}

// Open opens the data directory, creating it if it does not exist, and
// recovers what a crash left behind. Errors say what is wrong with which
// file; damage that recovery will not cut away wraps ErrDamaged. The
// directory is locked: a second process cannot open it at the same time.
func Open(opts Options) (*Store, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("file: no data directory")
	}
	s := &Store{opts: opts, dir: opts.Dir, log: opts.Logger, rooms: make(map[string]*roomState)}
	if err := os.MkdirAll(filepath.Join(s.dir, "rooms"), 0o755); err != nil {
		return nil, fmt.Errorf("file: data directory: %w", err)
	}
	lock, err := lockDir(s.dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.checkMagic(); err != nil {
		unlockDir(lock)
		return nil, err
	}
	if err := s.recoverRooms(); err != nil {
		unlockDir(lock)
		return nil, err
	}
	s.w = startWriter(s)
	return s, nil
}

// checkMagic checks the file that names the directory's format, writing it
// into a directory that has none yet.
func (s *Store) checkMagic() error {
	path := filepath.Join(s.dir, "ringchat-store")
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := writeFileSynced(path, []byte(storeMagic)); err != nil {
			return fmt.Errorf("file: %w", err)
		}
		return syncDir(s.dir)
	case err != nil:
		return fmt.Errorf("file: %w", err)
	case string(b) != storeMagic:
		return fmt.Errorf("file: %s: not a ringchat data directory of this version (it says %.40q)", path, b)
	}
	return nil
}

// recoverRooms reads every room directory: its epoch, its segments, and
// the newest segment's records, cutting a torn tail.
func (s *Store) recoverRooms() error {
	roomsDir := filepath.Join(s.dir, "rooms")
	entries, err := os.ReadDir(roomsDir)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, newRoomPrefix) { // a room being created when the process stopped
			if err := os.RemoveAll(filepath.Join(roomsDir, name)); err != nil {
				return fmt.Errorf("file: %w", err)
			}
			continue
		}
		room, ok := roomFromDir(name)
		if !ok || !e.IsDir() {
			s.log.Warn("data directory: ignoring an entry that is not a room", "path", filepath.Join(roomsDir, name))
			continue
		}
		rs, err := s.recoverRoom(room, filepath.Join(roomsDir, name))
		if err != nil {
			return err
		}
		s.rooms[room] = rs
	}
	return nil
}

func (s *Store) recoverRoom(room, dir string) (*roomState, error) {
	epoch, err := readEpochFile(filepath.Join(dir, "epoch"), room)
	if err != nil {
		return nil, err
	}
	rs := &roomState{s: s, name: room, dir: dir, epoch: epoch, onDisk: true}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	for _, e := range entries {
		if first, ok := segmentFirst(e.Name()); ok && e.Type().IsRegular() {
			rs.segs = append(rs.segs, &segment{first: first})
		} else if e.Name() != "epoch" {
			s.log.Warn("data directory: ignoring a file that is not a segment", "path", filepath.Join(dir, e.Name()))
		}
	}
	slices.SortFunc(rs.segs, func(a, b *segment) int { return cmpUint(a.first, b.first) })
	for i, seg := range rs.segs[:max(len(rs.segs)-1, 0)] {
		path := rs.segPath(seg)
		if seg.firstTime, err = firstRecordTime(path); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		seg.size = info.Size()
		if next := rs.segs[i+1]; next.first <= seg.first {
			return nil, fmt.Errorf("file: %w: %s: segments out of order", ErrDamaged, dir)
		}
	}
	if len(rs.segs) > 0 {
		newest := rs.segs[len(rs.segs)-1]
		path := rs.segPath(newest)
		got, err := recoverSegment(path, newest.first)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		if got.cut > 0 {
			s.log.Warn("data directory: cut a torn or corrupt tail off a room's log (a crash in the middle of a write)",
				"path", path, "at", got.size, "bytes", got.cut, "cause", got.cutCause, "last_id", got.last)
		}
		newest.firstTime, newest.size, newest.index = got.firstTime, got.size, got.index
		rs.claimed, rs.written = got.last, got.last
		rs.last.Store(got.last)
	}
	return rs, nil
}

// Open implements store.Store.
func (s *Store) Open(room string, sink store.Sink) (store.Log, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, store.ErrClosed
	}
	rs := s.rooms[room]
	if rs == nil {
		rs = &roomState{s: s, name: room, dir: filepath.Join(s.dir, "rooms", roomDir(room)), epoch: store.NewEpoch()}
		s.rooms[room] = rs
	}
	s.mu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.open != nil {
		return nil, store.ErrOpen
	}
	l := &roomLog{rs: rs}
	rs.open, rs.sink, rs.lastUse = l, sink, time.Now()
	return l, nil
}

// Close implements store.Store: it closes every room, writes and syncs
// what is queued, and unlocks the directory.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	rooms := make([]*roomState, 0, len(s.rooms))
	for _, rs := range s.rooms {
		rooms = append(rooms, rs)
	}
	s.mu.Unlock()
	for _, rs := range rooms {
		rs.mu.Lock()
		rs.open, rs.sink = nil, nil
		rs.mu.Unlock()
	}
	err := s.w.stop()
	unlockDir(s.lock)
	return err
}

// WriteMetrics writes the store's figures in the Prometheus text format, for
// the chat server's /metrics.
func (s *Store) WriteMetrics(w io.Writer) {
	wr := s.w
	wr.mu.Lock()
	queued, failing := wr.bytes, wr.failing != nil
	wr.mu.Unlock()
	up := 1
	if failing {
		up = 0
	}
	fmt.Fprintf(w, "# HELP ringchat_store_file_up Whether the history log writes (1) or refuses events until it can (0).\n# TYPE ringchat_store_file_up gauge\nringchat_store_file_up %d\n", up)
	fmt.Fprintf(w, "# HELP ringchat_store_file_queued_bytes Bodies waiting for the writer.\n# TYPE ringchat_store_file_queued_bytes gauge\nringchat_store_file_queued_bytes %d\n", queued)
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"ringchat_store_file_records_total", "Records written to the log.", wr.records.Load()},
		{"ringchat_store_file_bytes_total", "Bytes written to the log.", wr.written.Load()},
		{"ringchat_store_file_syncs_total", "Files synced (fdatasync).", wr.syncs.Load()},
		{"ringchat_store_file_segments_deleted_total", "Segments deleted past retention.", wr.deleted.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
}

// Sync returns the store's sync policy.
func (s *Store) Sync() SyncPolicy { return s.opts.Sync }

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeFileSynced writes a new file whole and syncs it.
func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
