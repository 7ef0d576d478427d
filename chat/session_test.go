package chat

import (
	"sync/atomic"
	"testing"
	"time"
)

func newTestSessions(max int) *sessions {
	return &sessions{byTok: make(map[string]*session), max: max, kept: new(atomic.Int64)}
}

func noLimit() tokenBucket { return newTokenBucket(-1, 0, time.Time{}) }

// The register forgets a session SessionTTL after its connection ended,
// not before, and not while it has one; when full, it forgets the sessions
// that ended first.
func TestSessionsRegister(t *testing.T) {
	t0 := time.Now()
	t.Run("expiry", func(t *testing.T) {
		r := newTestSessions(100)
		a, b := &conn{}, &conn{}
		sa, _, _ := r.attach("", a, noLimit, t0)
		sb, _, _ := r.attach("", b, noLimit, t0)
		r.detach(sa, a, t0)
		r.sweep(t0.Add(SessionTTL - time.Second))
		if got, name, _ := r.attach(sa.token, a, noLimit, t0.Add(SessionTTL-time.Second)); got != sa || name != "" {
			t.Fatal("a session was forgotten before its time")
		}
		r.detach(sa, a, t0.Add(SessionTTL))
		r.sweep(t0.Add(2*SessionTTL - time.Second))
		if r.count() != 2 {
			t.Fatalf("%d sessions kept, want both: the first came back, the second is live", r.count())
		}
		r.sweep(t0.Add(2 * SessionTTL))
		if _, ok := r.byTok[sa.token]; ok || r.byTok[sb.token] != sb || r.kept.Load() != 1 {
			t.Fatalf("after its time: %d kept, the gauge says %d; want the live one only", r.count(), r.kept.Load())
		}
	})
	t.Run("full", func(t *testing.T) {
		r := newTestSessions(3)
		var ss []*session
		for range 3 {
			c := &conn{}
			s, _, _ := r.attach("", c, noLimit, t0)
			ss = append(ss, s)
		}
		for i, s := range ss {
			r.detach(s, s.conn, t0.Add(time.Duration(i)*time.Second))
		}
		r.attach("", &conn{}, noLimit, t0.Add(5*time.Second)) // full: the first ended goes
		if _, ok := r.byTok[ss[0].token]; ok || r.count() != 3 {
			t.Fatalf("full register: %d kept, first ended kept %v", r.count(), ok)
		}
		if _, ok := r.byTok[ss[1].token]; !ok {
			t.Fatal("the second ended was forgotten before the first")
		}
	})
	t.Run("takeover", func(t *testing.T) {
		r := newTestSessions(10)
		old, nu := &conn{}, &conn{}
		s, _, _ := r.attach("", old, noLimit, t0)
		s.setName("alice")
		got, name, replaced := r.attach(s.token, nu, noLimit, t0)
		if got != s || name != "alice" || replaced != old {
			t.Fatalf("takeover: session %v, name %q, replaced %v", got == s, name, replaced == old)
		}
		r.detach(s, old, t0) // the old one ends afterwards: the session stays the new one's
		if s.conn != nu {
			t.Fatal("the replaced connection's end detached the new one")
		}
	})
}
