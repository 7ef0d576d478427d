package file

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"ringchat/chat/store"
)

// The on-disk format.
//
// A segment file starts with segmentMagic, then holds records back to back,
// in id order, consecutive: the first has the id the file is named after.
// A record is
//
//	length  uint32, little endian: the payload's length
//	crc     uint32, little endian: CRC-32C (Castagnoli) of the payload
//	payload id uint64 LE · time int64 LE (Unix milliseconds) · body (the event's JSON)
//
// A record is written whole by one write; a crash can leave a torn record
// only at the end of the newest segment, which recovery cuts off.

// segmentMagic opens every segment file: the format's name and version.
const segmentMagic = "RCHATLG1"

// recordHeaderSize is the length and crc in front of each payload.
const recordHeaderSize = 8

// payloadHeaderSize is the id and time at the start of each payload.
const payloadHeaderSize = 16

// maxBodyBytes bounds a record's body, so that a corrupt length cannot make
// a reader allocate gigabytes. Bodies are at most a chat message of the
// largest size the server accepts, escaped, plus the event's other fields.
const maxBodyBytes = 16 << 20

// castagnoli is the CRC-32C table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record decoding errors: what is wrong with the bytes at an offset.
var (
	errShort    = errors.New("file: record cut short")
	errLength   = errors.New("file: record length out of range")
	errChecksum = errors.New("file: record fails its checksum")
)

// recordSize returns the bytes a record with the given body takes on disk.
func recordSize(body []byte) int { return recordHeaderSize + payloadHeaderSize + len(body) }

// appendRecord appends r in the on-disk format to dst.
func appendRecord(dst []byte, r store.Record) []byte {
	at := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(payloadHeaderSize+len(r.Body)))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // the crc, below
	dst = binary.LittleEndian.AppendUint64(dst, r.ID)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time))
	dst = append(dst, r.Body...)
	binary.LittleEndian.PutUint32(dst[at+4:], crc32.Checksum(dst[at+recordHeaderSize:], castagnoli))
	return dst
}

// decodeRecord decodes the record at the start of b. It returns the record,
// whose body shares b's memory, and its size on disk; or errShort when b
// ends inside the record (it may continue beyond b, or be torn), errLength
// for a length no record can have, errChecksum for bytes that are not the
// record they claim to be.
func decodeRecord(b []byte) (store.Record, int, error) {
	if len(b) < recordHeaderSize {
		return store.Record{}, 0, errShort
	}
	n := binary.LittleEndian.Uint32(b)
	if n < payloadHeaderSize || n > payloadHeaderSize+maxBodyBytes {
		return store.Record{}, 0, errLength
	}
	size := recordHeaderSize + int(n)
	if len(b) < size {
		return store.Record{}, 0, errShort
	}
	payload := b[recordHeaderSize:size]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return store.Record{}, 0, errChecksum
	}
	return store.Record{
		ID:   binary.LittleEndian.Uint64(payload),
		Time: int64(binary.LittleEndian.Uint64(payload[8:])),
		Body: payload[payloadHeaderSize:],
	}, size, nil
}
