package redis_test

import (
	"fmt"
	"log"
	"time"

	"ringchat/chat/store"
	"ringchat/chat/store/redis"
	"ringchat/internal/resp"
)

// printSink shows what a room's log delivers.
type printSink struct{}

func (printSink) Deliver(id uint64, frame []byte) {
	if frame == nil {
		fmt.Println(id, "lost")
		return
	}
	fmt.Printf("%d %s\n", id, frame[2:]) // a short text frame's payload
}

// A chat process opens the store once, then a log per room in use. Every
// process pointed at the same Redis shares the rooms: their ids, epochs
// and events.
func Example() {
	ro, err := resp.ParseURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	s, err := redis.New(redis.Options{Redis: ro, Retention: store.Retention{Events: 10000, Age: 30 * 24 * time.Hour}})
	if err != nil {
		log.Fatal(err) // Redis cannot be reached: the error wraps store.ErrUnavailable
	}
	defer s.Close()
	l, err := s.Open("lobby", printSink{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	e := store.Event{Type: "message", Tail: []byte(`,"text":"hi"}`), Time: time.Now().UnixMilli()}
	id, err := l.Append(e) // delivered to every process's sink, this one's too
	if err != nil {
		log.Print(err) // not stored; wraps store.ErrUnavailable
	}
	fmt.Println("appended", id, "in epoch", l.Epoch())
}
