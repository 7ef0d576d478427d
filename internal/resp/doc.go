// Package resp is ringchat's own Redis client: the RESP2 protocol, a small
// connection pool for commands, one dedicated connection for pub/sub, and
// Lua scripts by digest. It uses the standard library only.
//
// # Connecting
//
// ParseURL reads redis://[user:password@]host:port[/db] (rediss:// for
// TLS) into Options; NewClient makes a Client from them. Every new
// connection authenticates (AUTH, with an ACL user or requirepass's
// password alone) and selects its database before it is used.
//
//	o, err := resp.ParseURL("redis://127.0.0.1:6379/0")
//	c, err := resp.NewClient(o)
//	defer c.Close()
//	id, err := resp.Int64(c.Do(ctx, "INCR", "room:lobby:seq"))
//
// # Replies
//
// A reply is a Value of one of the five RESP2 kinds. An error reply is
// returned by Do as an *Error whose Prefix names the refusal (NOSCRIPT,
// WRONGTYPE...); String, Int64 and Strings convert the others, and give
// ErrNil for a null reply. The protocol is RESP2 because every Redis since
// 2.0, Valkey and the proxies in between speak it and it carries all that a
// chat store needs; RESP3 would add types the store does not use and push
// frames that matter only when one connection mixes pub/sub and commands,
// which this package never does. The reply parser (Reader) is strict and
// bounded by Limits; a reply that breaks the protocol or the limits closes
// its connection with an error wrapping ErrProtocol or ErrLimit.
//
// # Pipelining
//
// A Pipeline holds many commands that DoPipeline writes at once and whose
// replies it returns in order: one round trip for all of them.
//
// # Pub/sub
//
// A Subscriber is one connection in subscribed mode for the whole process,
// whatever the number of channels. It delivers messages and connection
// events to a handler, in order, and after a lost connection reconnects
// and subscribes again by itself; EventDisconnected and EventConnected
// frame the window in which messages may have been lost, so that the
// caller can fetch them from where they are stored.
//
// # Failures and time
//
// Dialling, writing and waiting for a reply are bounded by DialTimeout,
// WriteTimeout and ReadTimeout, and by the context of each call, whichever
// ends first. A failed connection is dropped; the next call dials a new
// one, after a backoff with jitter if dialling failed. Nothing is retried
// behind the caller's back except a Script's EVAL after NOSCRIPT, which
// the server has refused without running anything.
//
// # Concurrency
//
// Client, Subscriber and Script are safe for concurrent use; Pipeline and
// Reader are not.
package resp
