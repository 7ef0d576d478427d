package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"ringchat/chat"
	"ringchat/chat/web"
)

// get asks h for path with method and headers given as "Name: value".
func get(t *testing.T, h http.Handler, method, path string, headers ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for _, kv := range headers {
		k, v, _ := strings.Cut(kv, ": ")
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesThePage(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/app.js" defer></script>`},
		{"/app.js", "text/javascript; charset=utf-8", "new WebSocket("},
		{"/style.css", "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		name := strings.TrimPrefix(tt.path, "/")
		if name == "" {
			name = "page"
		}
		t.Run(name, func(t *testing.T) {
			res := get(t, h, "GET", tt.path)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d", res.StatusCode)
			}
			for name, want := range map[string]string{
				"Content-Type":            tt.contentType,
				"Content-Security-Policy": web.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-cache",
			} {
				if got := res.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if b := body(t, res); !strings.Contains(b, tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	h := web.Handler()
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"unknown path", "GET", "/nope", http.StatusNotFound},
		{"index by name", "GET", "/index.html", http.StatusNotFound},
		{"directory", "GET", "/static/", http.StatusNotFound},
		{"traversal", "GET", "/../web.go", http.StatusNotFound},
		{"post", "POST", "/", http.StatusMethodNotAllowed},
		{"delete asset", "DELETE", "/app.js", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if res.Header.Get("Content-Security-Policy") == "" {
				t.Error("refusal without the Content-Security-Policy")
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := web.Handler()
	etag := get(t, h, "GET", "/app.js").Header.Get("ETag")
	if res := get(t, h, "GET", "/app.js", "If-None-Match: "+etag); res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: status %d, want 304", res.StatusCode)
	}
	if res := get(t, h, "GET", "/app.js", `If-None-Match: "stale"`); res.StatusCode != http.StatusOK {
		t.Errorf("If-None-Match with another ETag: status %d, want 200", res.StatusCode)
	}
	res := get(t, h, "HEAD", "/")
	if res.StatusCode != http.StatusOK || body(t, res) != "" {
		t.Errorf("HEAD: status %d, want 200 and no body", res.StatusCode)
	}
}

// TestPageIsSelfContained checks what the Content-Security-Policy relies
// on: the page loads only its own files, each of which the handler serves,
// and has no inline script, inline style or event-handler attribute.
func TestPageIsSelfContained(t *testing.T) {
	h := web.Handler()
	page := body(t, get(t, h, "GET", "/"))
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("found only %d src/href references in the page", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if strings.HasPrefix(ref, "#") {
			continue
		}
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("reference %q is not to the page's own origin", ref)
			continue
		}
		if res := get(t, h, "GET", ref); res.StatusCode != http.StatusOK {
			t.Errorf("the page refers to %s, which is %d", ref, res.StatusCode)
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`),         // inline script
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*</script>`), // a script tag without src…
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`https?://`),
	} {
		for _, m := range bad.FindAllString(page, -1) {
			if strings.Contains(m, `src="/app.js"`) {
				continue // the one script, from a file
			}
			t.Errorf("the page has %q", m)
		}
	}
}

// TestScriptInsertsTextOnly guards the rule that network text never becomes
// markup: the script uses none of the DOM's HTML parsers or eval.
func TestScriptInsertsTextOnly(t *testing.T) {
	js := body(t, get(t, web.Handler(), "GET", "/app.js"))
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment", "setHTMLUnsafe", "DOMParser"} {
		if strings.Contains(js, sink) {
			t.Errorf("app.js uses %s", sink)
		}
	}
}

// TestServerServesThePageAtRoot checks the wiring the server relies on:
// with the handler as Options.Web, GET / is the page, while /ws, /healthz
// and a WebSocket upgrade of / stay the server's.
func TestServerServesThePageAtRoot(t *testing.T) {
	srv, err := chat.NewServer(chat.Options{Web: web.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	if res := get(t, srv, "GET", "/"); res.StatusCode != http.StatusOK || !strings.Contains(body(t, res), "<title>ringchat</title>") {
		t.Errorf("GET /: status %d, not the page", res.StatusCode)
	}
	if res := get(t, srv, "GET", "/healthz"); body(t, res) != "ok\n" {
		t.Error("GET /healthz is no longer the server's")
	}
	if res := get(t, srv, "GET", "/missing"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /missing: status %d, want 404", res.StatusCode)
	}
	// A WebSocket upgrade of / goes to the chat (which refuses this one, a
	// recorder cannot be hijacked, but with its own status, not the page).
	res := get(t, srv, "GET", "/", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")
	if strings.Contains(body(t, res), "<title>ringchat</title>") {
		t.Error("a WebSocket upgrade of / got the page")
	}
}
