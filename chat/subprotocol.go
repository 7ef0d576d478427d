package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// SubprotocolV1 is the structured client protocol (CONTRACT.md,
// "ringchat.v1"): a client that offers it in Sec-WebSocket-Protocol sends
// one JSON object per frame, {"type":"send","cid":"…","text":"…"}, and every
// send is answered by exactly one ack or error carrying its cid. Without
// it, a frame is a plain line, as from the original tutorial's clients.
const SubprotocolV1 = "ringchat.v1"

// MaxCIDLength is the longest client id a send may carry.
const MaxCIDLength = 64

// SendFrame is a ringchat.v1 client frame.
type SendFrame struct {
	Type string `json:"type"` // "send"
	CID  string `json:"cid"`  // the client's id for the send: 1-64 printable ASCII characters
	Text string `json:"text"` // the line, as a plain-text frame would carry it
}

// parseSendFrame reads a ringchat.v1 client frame. On an error it returns
// as much of the frame as it could read, so that the refusal can name its
// cid when it has one.
func parseSendFrame(b []byte) (SendFrame, error) {
	var f SendFrame
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		var loose SendFrame
		_ = json.Unmarshal(b, &loose) // for the cid, if there is one
		if !validCID(loose.CID) {
			loose.CID = ""
		}
		return loose, errors.New("not a ringchat.v1 frame: want {\"type\":\"send\",\"cid\":\"…\",\"text\":\"…\"}")
	}
	if d.More() {
		return SendFrame{}, errors.New("not a ringchat.v1 frame: one JSON object per frame")
	}
	if !validCID(f.CID) {
		cid := f.CID
		f.CID = ""
		return f, fmt.Errorf("bad cid %.70q: 1 to %d printable ASCII characters", cid, MaxCIDLength)
	}
	if f.Type != "send" {
		return f, fmt.Errorf("unknown frame type %.40q: the client sends only \"send\"", f.Type)
	}
	return f, nil
}

// validCID reports whether cid is 1 to MaxCIDLength printable ASCII
// characters.
func validCID(cid string) bool {
	if cid == "" || len(cid) > MaxCIDLength {
		return false
	}
	for i := 0; i < len(cid); i++ {
		if cid[i] < 0x21 || cid[i] > 0x7E {
			return false
		}
	}
	return true
}
