package resp_test

import (
	"os"
	"testing"

	"ringchat/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
