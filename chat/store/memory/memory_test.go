package memory_test

import (
	"os"
	"testing"

	"ringchat/chat/store"
	"ringchat/chat/store/memory"
	"ringchat/chat/store/storetest"
	"ringchat/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }

func TestStore(t *testing.T) {
	storetest.Run(t, storetest.Maker{
		New: func(t *testing.T, ret store.Retention) store.Store { return memory.New(ret) },
	})
}
