package chat

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names.
const (
	MaxNameRunes = 32 // display names and room names
)

// Errors for refused names.
var (
	ErrNameEmpty   = errors.New("chat: name is empty")
	ErrNameLong    = errors.New("chat: name is longer than 32 characters")
	ErrNameChars   = errors.New("chat: name has spaces, control or invisible characters")
	ErrRoomChars   = errors.New("chat: room names use letters, digits, '-', '_' and '.'")
	ErrNameInvalid = errors.New("chat: name is not valid UTF-8")
)

// CleanName checks a display name and returns it trimmed. A name is 1 to 32
// printable characters without spaces; control characters, format
// characters (such as the bidirectional overrides that can disguise text)
// and invalid UTF-8 are refused.
func CleanName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := checkLength(s); err != nil {
		return "", err
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) {
			return "", ErrNameChars
		}
	}
	return s, nil
}

// CleanRoom checks a room name and returns its canonical form: without a
// leading '#', in lower case. Room names are 1 to 32 letters, digits, '-',
// '_' or '.'.
func CleanRoom(s string) (string, error) {
	s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "#"))
	if err := checkLength(s); err != nil {
		return "", err
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' && r != '.' {
			return "", ErrRoomChars
		}
	}
	return s, nil
}

func checkLength(s string) error {
	switch {
	case s == "":
		return ErrNameEmpty
	case !utf8.ValidString(s):
		return ErrNameInvalid
	case utf8.RuneCountInString(s) > MaxNameRunes:
		return ErrNameLong
	}
	return nil
}

// nameKey returns the form in which two display names are compared for
// uniqueness in a room: case-folded, with fullwidth forms and the common
// Cyrillic and Greek look-alikes of Latin letters mapped to Latin, so that
// "Alice", "ａｌｉｃｅ" and "аlice" (Cyrillic а) cannot stand side by side.
func nameKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		if r >= 0xFF01 && r <= 0xFF5E { // fullwidth ASCII
			r -= 0xFF01 - 0x21
		}
		r = unicode.ToLower(r)
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lookalikes maps lower-case letters that render like Latin ones to those.
var lookalikes = map[rune]rune{
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ј': 'j', 'ԁ': 'd',
	'ԛ': 'q', 'ԝ': 'w', 'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v',
	'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ı': 'i', 'ℓ': 'l',
	'0': 'o', '1': 'l',
}
