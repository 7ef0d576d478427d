package redis_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"ringchat/chat/store/redis"
	"ringchat/internal/resp"
)

// Which failures make the store take Redis for unreachable, refusing
// appends until it answers again.
func TestWhatIsUnreachable(t *testing.T) {
	poolBusy := fmt.Errorf("resp: waiting for a connection: %w (%w)", context.DeadlineExceeded, resp.ErrPoolBusy)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"timeout", fmt.Errorf("resp: EVALSHA: %w", context.DeadlineExceeded), true},
		{"connection refused", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), true},
		{"loading", &resp.Error{Msg: "LOADING Redis is loading the dataset in memory"}, true},
		{"busy script", &resp.Error{Msg: "BUSY Redis is busy running a script"}, true},
		{"refused command", &resp.Error{Msg: "ERR wrong number of arguments"}, false},
		{"the node's own pool busy", poolBusy, false},
	} {
		if got := redis.Unreachable(tc.err); got != tc.want {
			t.Errorf("%s: unreachable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
