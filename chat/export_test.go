package chat

// OnClaimWait makes f be called whenever a send waits for another
// connection of its session to settle the same client id, with the
// session's lock held (f must not block); it returns the function that
// undoes it. Not for parallel tests.
func OnClaimWait(f func()) (undo func()) {
	testHookClaimWaits = f
	return func() { testHookClaimWaits = nil }
}
