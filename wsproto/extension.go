package wsproto

import (
	"errors"
	"strconv"
	"strings"
)

// Extension is one extension of a Sec-WebSocket-Extensions header (RFC 6455
// 9.1): its name and parameters, in the order given.
type Extension struct {
	Name   string
	Params []ExtensionParam
}

// ExtensionParam is one parameter of an extension: a name, and a value
// when it has one ("param=value" or "param=\"value\"", unquoted here).
type ExtensionParam struct {
	Name     string
	Value    string
	HasValue bool
}

// errExtensionSyntax is what ParseExtensions returns for a header that
// does not follow the grammar of RFC 6455 9.1.
var errExtensionSyntax = errors.New("wsproto: malformed Sec-WebSocket-Extensions header")

// ParseExtensions parses the values of Sec-WebSocket-Extensions headers —
// several headers and comma-separated lists alike — into their
// extensions, in order:
//
//	extension-list = 1#extension
//	extension = extension-token *( ";" extension-param )
//	extension-param = token [ "=" (token | quoted-string) ]
//
// A quoted value, once unescaped, must itself be a token (RFC 6455 9.1).
// Empty list elements are skipped, as RFC 7230's #rule allows. Any other
// departure from the grammar is an error: the caller then takes no
// extension at all.
func ParseExtensions(headers []string) ([]Extension, error) {
	var out []Extension
	for _, h := range headers {
		p := extParser{s: h}
		for {
			p.ows()
			if p.done() {
				break
			}
			if p.peek() == ',' {
				p.i++
				continue
			}
			ext, err := p.extension()
			if err != nil {
				return nil, err
			}
			out = append(out, ext)
			p.ows()
			if p.done() {
				break
			}
			if p.peek() != ',' {
				return nil, errExtensionSyntax
			}
			p.i++
		}
	}
	return out, nil
}

// extParser walks one header value.
type extParser struct {
	s string
	i int
}

func (p *extParser) done() bool { return p.i >= len(p.s) }
func (p *extParser) peek() byte { return p.s[p.i] }

// ows skips optional white space.
func (p *extParser) ows() {
	for !p.done() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

func (p *extParser) token() (string, bool) {
	start := p.i
	for !p.done() && isTokenChar(p.peek()) {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

func (p *extParser) extension() (Extension, error) {
	name, ok := p.token()
	if !ok {
		return Extension{}, errExtensionSyntax
	}
	ext := Extension{Name: name}
	for {
		p.ows()
		if p.done() || p.peek() != ';' {
			return ext, nil
		}
		p.i++
		p.ows()
		pname, ok := p.token()
		if !ok {
			return Extension{}, errExtensionSyntax
		}
		param := ExtensionParam{Name: pname}
		p.ows()
		if !p.done() && p.peek() == '=' {
			p.i++
			p.ows()
			v, err := p.value()
			if err != nil {
				return Extension{}, err
			}
			param.Value, param.HasValue = v, true
		}
		ext.Params = append(ext.Params, param)
	}
}

// value reads a token or a quoted string whose content is a token.
func (p *extParser) value() (string, error) {
	if p.done() {
		return "", errExtensionSyntax
	}
	if p.peek() != '"' {
		v, ok := p.token()
		if !ok {
			return "", errExtensionSyntax
		}
		return v, nil
	}
	p.i++
	var b strings.Builder
	for {
		if p.done() {
			return "", errExtensionSyntax
		}
		c := p.peek()
		p.i++
		switch {
		case c == '"':
			v := b.String()
			if v == "" || strings.IndexFunc(v, func(r rune) bool { return r > 0x7E || !isTokenChar(byte(r)) }) >= 0 {
				return "", errExtensionSyntax // a quoted value must be a token (RFC 6455 9.1)
			}
			return v, nil
		case c == '\\':
			if p.done() {
				return "", errExtensionSyntax
			}
			b.WriteByte(p.peek())
			p.i++
		default:
			b.WriteByte(c)
		}
	}
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 7230 3.2.6).
func isTokenChar(c byte) bool {
	if c <= ' ' || c >= 0x7F {
		return false
	}
	return !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", rune(c))
}

// String writes the extension as a Sec-WebSocket-Extensions element.
func (e Extension) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	for _, p := range e.Params {
		b.WriteString("; ")
		b.WriteString(p.Name)
		if p.HasValue {
			b.WriteByte('=')
			b.WriteString(p.Value)
		}
	}
	return b.String()
}

// The name and parameters of permessage-deflate (RFC 7692 7).
const (
	permessageDeflate       = "permessage-deflate"
	serverNoContextTakeover = "server_no_context_takeover"
	clientNoContextTakeover = "client_no_context_takeover"
	serverMaxWindowBits     = "server_max_window_bits"
	clientMaxWindowBits     = "client_max_window_bits"
)

// deflateParams are the parameters of one permessage-deflate offer or
// response, checked.
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int  // 0: absent
	clientMaxWindowBits     int  // 0: absent, or present without a value (clientMaxWindowBitsAny)
	clientMaxWindowBitsAny  bool // client_max_window_bits without a value (an offer only)
}

// parseDeflateParams checks the parameters of a permessage-deflate offer
// (offer true) or response: every parameter known, none repeated, values
// as RFC 7692 7.1 defines them (window bits a decimal from 8 to 15 with no
// leading zero; no value for the no_context_takeover ones; in a response,
// client_max_window_bits only with a value).
func parseDeflateParams(params []ExtensionParam, offer bool) (deflateParams, bool) {
	var d deflateParams
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.Name] {
			return d, false // repeated (7.1: "multiple extension parameters with the same name")
		}
		seen[p.Name] = true
		switch p.Name {
		case serverNoContextTakeover:
			if p.HasValue {
				return d, false
			}
			d.serverNoContextTakeover = true
		case clientNoContextTakeover:
			if p.HasValue {
				return d, false
			}
			d.clientNoContextTakeover = true
		case serverMaxWindowBits:
			bits, ok := windowBits(p)
			if !ok {
				return d, false
			}
			d.serverMaxWindowBits = bits
		case clientMaxWindowBits:
			if !p.HasValue {
				if !offer {
					return d, false // a response names the size (7.1.2.2)
				}
				d.clientMaxWindowBitsAny = true
				continue
			}
			bits, ok := windowBits(p)
			if !ok {
				return d, false
			}
			d.clientMaxWindowBits = bits
		default:
			return d, false // unknown
		}
	}
	return d, true
}

// windowBits reads a window size parameter: 8 to 15, no leading zero.
func windowBits(p ExtensionParam) (int, bool) {
	if !p.HasValue || len(p.Value) == 0 || p.Value[0] == '0' || len(p.Value) > 2 {
		return 0, false
	}
	n, err := strconv.Atoi(p.Value)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// negotiateDeflate picks the first permessage-deflate offer among exts that
// the server can take and returns the response element for it. The server
// always answers with server_no_context_takeover (its frames are then
// independent: one compressed frame serves every member of a room) and
// client_no_context_takeover (the client's messages are too: inflating
// needs no state kept between messages, so none is kept per connection).
// Go's compress/flate always uses a 32 KiB window, so an offer that limits
// the server's window below 15 bits is declined (RFC 7692 7.1.2.1 lets a
// server decline a configuration it does not support); a client window
// limit needs nothing of the server. Offers with unknown, repeated or
// invalid parameters are declined as RFC 7692 7.1 requires.
func negotiateDeflate(exts []Extension) (string, bool) {
	for _, e := range exts {
		if e.Name != permessageDeflate {
			continue
		}
		d, ok := parseDeflateParams(e.Params, true)
		if !ok || d.serverMaxWindowBits != 0 && d.serverMaxWindowBits < 15 {
			continue
		}
		resp := permessageDeflate + "; " + serverNoContextTakeover + "; " + clientNoContextTakeover
		if d.serverMaxWindowBits == 15 {
			resp += "; " + serverMaxWindowBits + "=15" // an accepted limit is echoed (7.1.2.1)
		}
		return resp, true
	}
	return "", false
}

// deflateOffer is what Dial offers when asked to compress: independent
// messages both ways, as the server above answers.
const deflateOffer = permessageDeflate + "; " + clientNoContextTakeover + "; " + serverNoContextTakeover

// checkDeflateResponse checks the server's answer to deflateOffer: at most
// one extension, permessage-deflate, with valid parameters (RFC 7692 5:
// the client fails the connection otherwise). It reports whether the
// server took it.
func checkDeflateResponse(headers []string) (bool, error) {
	exts, err := ParseExtensions(headers)
	if err != nil {
		return false, err
	}
	switch {
	case len(exts) == 0:
		return false, nil
	case len(exts) > 1 || exts[0].Name != permessageDeflate:
		return false, errors.New("wsproto: server selected an extension the client did not offer")
	}
	d, ok := parseDeflateParams(exts[0].Params, false)
	switch {
	case !ok:
		return false, errors.New("wsproto: server's permessage-deflate parameters are invalid")
	case !d.serverNoContextTakeover:
		// Offered, so an acceptance must carry it (RFC 7692 7.1.1.1).
		return false, errors.New("wsproto: server took permessage-deflate without server_no_context_takeover")
	case d.clientMaxWindowBits != 0:
		// Not offered, so not to be answered (RFC 7692 7.1.2.2).
		return false, errors.New("wsproto: server answered client_max_window_bits, which the client did not offer")
	}
	return true, nil
}
