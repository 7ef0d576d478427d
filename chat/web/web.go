// Package web serves ringchat's browser client: one chat page, embedded in
// the binary, in plain HTML, CSS and JavaScript with no build step and no
// external resources, so it works offline.
//
// The page talks to the chat connection of the same origin (/ws) with the
// protocol of CONTRACT.md, as the terminal client does: it resumes every
// room with since and epoch after a reconnect or a change of room, so that
// no event is lost or shown twice. It inserts every piece of text from the
// network as text, never as HTML, and the Content-Security-Policy it is
// served with forbids inline script and every other origin besides.
//
// Its end-to-end test, in headless Chromium, is e2e/run.sh.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy every answer of Handler carries. Script,
// style, images and the icon come from the page's own origin only, nothing
// inline; the page may connect to its own origin, where WebSocket URLs
// (ws:, wss:) count too — named explicitly because browsers before CSP
// Level 3 do not count them under 'self'. No plugin, frame, form target or
// base URL is allowed, and no other site may frame the page.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self' ws: wss:; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler returns the handler of the web page: GET or HEAD of "/" is the
// page, of "/app.js", "/style.css" and "/favicon.svg" its parts; any other
// path is 404 and any other method 405. Every answer carries the security
// headers (ContentSecurityPolicy, nosniff, no referrer, no framing); files
// are served with an ETag and "Cache-Control: no-cache", so a browser
// revalidates them cheaply and never runs a stale page against a newer
// server. The handler is safe for concurrent use.
func Handler() http.Handler {
	assets := make(map[string]*asset)
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) { // not left to the system's MIME tables
		case ".html":
			ctype = "text/html; charset=utf-8"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		case ".svg":
			ctype = "image/svg+xml"
		}
		urlPath := "/" + strings.TrimPrefix(name, "static/")
		if urlPath == "/index.html" {
			urlPath = "/"
		}
		assets[urlPath] = &asset{body: body, contentType: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: reading the embedded page: " + err.Error()) // the build embedded it; cannot happen
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		a := assets[r.URL.Path]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		// ServeContent answers If-None-Match with 304 and serves ranges and HEAD.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
