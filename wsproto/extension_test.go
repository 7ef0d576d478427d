package wsproto

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseExtensions(t *testing.T) {
	p := func(name, value string, has bool) ExtensionParam { return ExtensionParam{name, value, has} }
	tests := []struct {
		name    string
		headers []string
		want    []Extension
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"one bare", []string{"permessage-deflate"}, []Extension{{Name: "permessage-deflate"}}, false},
		{"as Chromium offers it", []string{"permessage-deflate; client_max_window_bits"},
			[]Extension{{"permessage-deflate", []ExtensionParam{p("client_max_window_bits", "", false)}}}, false},
		{"several offers in one header", []string{"permessage-deflate; server_no_context_takeover, permessage-deflate"},
			[]Extension{{"permessage-deflate", []ExtensionParam{p("server_no_context_takeover", "", false)}}, {Name: "permessage-deflate"}}, false},
		{"several headers", []string{"foo", "permessage-deflate;client_max_window_bits=10"},
			[]Extension{{Name: "foo"}, {"permessage-deflate", []ExtensionParam{p("client_max_window_bits", "10", true)}}}, false},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="10"`},
			[]Extension{{"permessage-deflate", []ExtensionParam{p("server_max_window_bits", "10", true)}}}, false},
		{"quoted value with an escape", []string{`x; a="1\0"`}, []Extension{{"x", []ExtensionParam{p("a", "10", true)}}}, false},
		{"spaces and tabs around", []string{" permessage-deflate \t;\tclient_max_window_bits = 12 , x "},
			[]Extension{{"permessage-deflate", []ExtensionParam{p("client_max_window_bits", "12", true)}}, {Name: "x"}}, false},
		{"empty elements", []string{", ,permessage-deflate,,"}, []Extension{{Name: "permessage-deflate"}}, false},
		{"quoted value not a token", []string{`x; a="1 0"`}, nil, true},
		{"empty quoted value", []string{`x; a=""`}, nil, true},
		{"unterminated quote", []string{`x; a="10`}, nil, true},
		{"missing value", []string{"x; a="}, nil, true},
		{"missing parameter name", []string{"x; =1"}, nil, true},
		{"bad separator", []string{"x y"}, nil, true},
		{"separator in a name", []string{"x/y"}, nil, true},
		{"control character", []string{"x\x01"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(tt.headers)
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseExtensions(%q) = %+v, %v; want %+v, error %v", tt.headers, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// RFC 7692 7: which offers the server takes, and what it answers.
func TestNegotiateDeflate(t *testing.T) {
	const base = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	tests := []struct {
		name   string
		offers string
		want   string // "" declines
	}{
		{"bare offer", "permessage-deflate", base},
		{"Chromium's offer", "permessage-deflate; client_max_window_bits", base},
		{"Firefox's offer", "permessage-deflate", base},
		{"client window limited: nothing for the server to do", "permessage-deflate; client_max_window_bits=9", base},
		{"both no_context_takeover offered", "permessage-deflate; client_no_context_takeover; server_no_context_takeover", base},
		{"server window 15 is echoed", "permessage-deflate; server_max_window_bits=15", base + "; server_max_window_bits=15"},
		{"server window below 15 declined", "permessage-deflate; server_max_window_bits=10", ""},
		{"a declined offer, then one taken", "permessage-deflate; server_max_window_bits=10, permessage-deflate", base},
		{"unknown parameter declined", "permessage-deflate; mystery", ""},
		{"repeated parameter declined", "permessage-deflate; client_no_context_takeover; client_no_context_takeover", ""},
		{"window bits out of range", "permessage-deflate; client_max_window_bits=16", ""},
		{"window bits below range", "permessage-deflate; server_max_window_bits=7", ""},
		{"window bits with a leading zero", "permessage-deflate; server_max_window_bits=010", ""},
		{"window bits not a number", "permessage-deflate; server_max_window_bits=abc", ""},
		{"server window without a value", "permessage-deflate; server_max_window_bits", ""},
		{"no_context_takeover with a value", "permessage-deflate; server_no_context_takeover=1", ""},
		{"another extension only", "x-webkit-deflate-frame", ""},
		{"another extension, then ours", "x-webkit-deflate-frame, permessage-deflate", base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exts, err := ParseExtensions([]string{tt.offers})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := negotiateDeflate(exts)
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("negotiateDeflate(%q) = %q, %v; want %q", tt.offers, got, ok, tt.want)
			}
		})
	}
}

// The client's check of the server's answer to its offer (RFC 7692 5, 7).
func TestCheckDeflateResponse(t *testing.T) {
	tests := []struct {
		name     string
		response string
		want     bool
		wantErr  string
	}{
		{"declined", "", false, ""},
		{"taken as offered", "permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, ""},
		{"server window named", "permessage-deflate; server_no_context_takeover; server_max_window_bits=12", true, ""},
		{"without server_no_context_takeover", "permessage-deflate; client_no_context_takeover", false, "without server_no_context_takeover"},
		{"client window answered unasked", "permessage-deflate; server_no_context_takeover; client_max_window_bits=10", false, "did not offer"},
		{"client window without a value", "permessage-deflate; server_no_context_takeover; client_max_window_bits", false, "invalid"},
		{"unknown parameter", "permessage-deflate; server_no_context_takeover; x", false, "invalid"},
		{"another extension", "x-foo", false, "did not offer"},
		{"two extensions", "permessage-deflate; server_no_context_takeover, permessage-deflate; server_no_context_takeover", false, "did not offer"},
		{"malformed", "permessage-deflate;", false, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []string
			if tt.response != "" {
				h = []string{tt.response}
			}
			got, err := checkDeflateResponse(h)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkDeflateResponse(%q) = %v, %v; want %v, error containing %q", tt.response, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzParseExtensions: any header parses or is refused, never a panic; a
// parsed list written back out parses to the same list.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{"permessage-deflate; client_max_window_bits", `x; a="b", y;c=1`, ", ,", `a; b="\"`, "p; q=\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		exts, err := ParseExtensions([]string{h})
		if err != nil {
			return
		}
		parts := make([]string, len(exts))
		for i, e := range exts {
			parts[i] = e.String()
		}
		again, err := ParseExtensions([]string{strings.Join(parts, ", ")})
		if err != nil || !reflect.DeepEqual(again, exts) && len(exts) > 0 {
			t.Fatalf("%q parsed to %+v; written back as %q it parses to %+v, %v", h, exts, strings.Join(parts, ", "), again, err)
		}
		negotiateDeflate(exts) // must not panic on anything parsed
	})
}
