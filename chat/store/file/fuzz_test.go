package file

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"ringchat/chat/store"
)

// FuzzDecodeRecord: any bytes decode to a record or to an error, never a
// panic; a record decoded is exactly what appendRecord writes for it.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, store.Record{ID: 1, Time: 1700000000000, Body: []byte(`{"type":"message","id":1}`)}))
	f.Add(appendRecord(nil, store.Record{ID: 1 << 63, Time: -1}))
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errShort) && !errors.Is(err, errLength) && !errors.Is(err, errChecksum) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n > len(b) || n != recordSize(r.Body) {
			t.Fatalf("size %d for a record of body %d in %d bytes", n, len(r.Body), len(b))
		}
		if again := appendRecord(nil, r); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b[:n])
		}
	})
}

// FuzzRecoverSegment: whatever a newest segment holds after its magic,
// recovery either refuses it as damaged or leaves a file whose every byte
// is a good record, in order from the segment's first id, and reports the
// records it kept; it never panics.
func FuzzRecoverSegment(f *testing.F) {
	var good []byte
	for id := uint64(1); id <= 3; id++ {
		good = appendRecord(good, store.Record{ID: id, Time: int64(id), Body: []byte(`{"x":1}`)})
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0, 0))
	flipped := bytes.Clone(good)
	flipped[10] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, tail []byte) {
		path := filepath.Join(t.TempDir(), segmentName(1))
		if err := os.WriteFile(path, append([]byte(segmentMagic), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := recoverSegment(path, 1)
		var de *damageError
		if errors.As(err, &de) {
			return
		}
		if err != nil {
			t.Fatalf("recoverSegment: %v", err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != got.size || !bytes.HasPrefix(data, []byte(segmentMagic)) {
			t.Fatalf("file is %d bytes, recovery says %d", len(data), got.size)
		}
		rest, want := data[len(segmentMagic):], uint64(1)
		for len(rest) > 0 {
			r, n, err := decodeRecord(rest)
			if err != nil || r.ID != want {
				t.Fatalf("after recovery, record %d: %v (id %d)", want, err, r.ID)
			}
			rest, want = rest[n:], want+1
		}
		if got.last != want-1 {
			t.Fatalf("recovery says last %d, the file holds up to %d", got.last, want-1)
		}
	})
}
