package redis_test

import (
	"testing"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/chat/store/storetest"
	"ringchat/internal/redistest"
)

// TestStore runs the tests every store passes against a real redis-server:
// each store under a fresh prefix; a restart is a new Store on the same
// server and prefix, as a restarted chat process would make.
func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	open := func(t *testing.T, prefix string, ret store.Retention) store.Store {
		o := options(srv, prefix)
		o.Retention = ret
		s, err := redis.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.Run(t, storetest.Maker{
		New: func(t *testing.T, ret store.Retention) store.Store { return open(t, freshPrefix(), ret) },
		Reopen: func(t *testing.T, s store.Store, ret store.Retention) store.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return open(t, s.(*redis.Store).Prefix(), ret)
		},
	})
}
