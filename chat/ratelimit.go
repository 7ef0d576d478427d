package chat

import "time"

// tokenBucket limits how fast one client may send: it holds up to burst
// tokens, refilled at rate per second, and each message takes one. It is
// owned by the connection's reading goroutine.
type tokenBucket struct {
	rate   float64 // tokens per second; 0 means no limit
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// allow takes a token if one is left at time now.
func (b *tokenBucket) allow(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// wait returns how long, after the last allow, until a token is there.
func (b *tokenBucket) wait() time.Duration {
	if b.rate <= 0 || b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
