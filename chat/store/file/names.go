package file

import (
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// Room directories are named after their rooms, so an operator can find
// them: "room-lobby" for the room lobby. Names that are not plain lower-case
// ASCII — letters of other scripts, or a leading dot, which "." and ".."
// have — are encoded instead, "x-" and the name in lower-case base32, which
// every file system stores as it is, case-insensitive ones included.
const (
	plainPrefix   = "room-"
	encodedPrefix = "x-"
)

var roomEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// roomDir returns the directory name of a room.
func roomDir(room string) string {
	if isPlain(room) {
		return plainPrefix + room
	}
	return encodedPrefix + roomEncoding.EncodeToString([]byte(room))
}

// roomFromDir returns the room a directory name stands for, and whether it
// is a room directory at all.
func roomFromDir(dir string) (string, bool) {
	if room, ok := strings.CutPrefix(dir, plainPrefix); ok && isPlain(room) {
		return room, true
	}
	if enc, ok := strings.CutPrefix(dir, encodedPrefix); ok {
		b, err := roomEncoding.DecodeString(enc)
		if err == nil && len(b) > 0 && !isPlain(string(b)) && roomEncoding.EncodeToString(b) == enc {
			return string(b), true
		}
	}
	return "", false
}

func isPlain(room string) bool {
	if room == "" || room[0] == '.' {
		return false
	}
	for i := 0; i < len(room); i++ {
		c := room[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// segmentName is the file name of the segment whose first record has id
// first: the id in 20 digits, so that names sort as ids do.
func segmentName(first uint64) string { return fmt.Sprintf("%020d.log", first) }

// segmentFirst parses a segment file name, reporting whether it is one.
func segmentFirst(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, ".log")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}
