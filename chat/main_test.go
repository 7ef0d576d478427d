package chat_test

import (
	"errors"
	"io"
	"log/slog"
)

var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func errorsAs(err error, target any) bool { return errors.As(err, target) }
