package resp_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"ringchat/internal/resp"
)

func ExampleClient_Do() {
	o, err := resp.ParseURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	c, err := resp.NewClient(o)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	id, err := resp.Int64(c.Do(ctx, "INCR", "room:lobby:seq"))
	if resp.HasPrefix(err, "WRONGTYPE") {
		log.Fatal("room:lobby:seq is not a counter")
	}
	fmt.Println(id, err)
}

func ExampleClient_DoPipeline() {
	c, _ := resp.NewClient(resp.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	var p resp.Pipeline
	for _, room := range []string{"lobby", "go", "rust"} {
		p.Add("GET", "room:"+room+":seq")
	}
	replies, err := c.DoPipeline(context.Background(), &p)
	if err != nil {
		log.Fatal(err) // the exchange failed: which commands ran is unknown
	}
	for _, r := range replies {
		fmt.Println(resp.Int64(r, nil)) // ErrNil for a room without events
	}
}

func ExampleSubscriber() {
	events := make(chan resp.Event, 1024)
	s, err := resp.NewSubscriber(resp.Options{Addr: "127.0.0.1:6379"}, func(ev resp.Event) {
		events <- ev // hand on quickly: the handler holds up the reading
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Subscribe(context.Background(), "room:lobby"); err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		switch ev.Kind {
		case resp.EventMessage:
			fmt.Println(ev.Channel, ev.Payload)
		case resp.EventDisconnected:
			fmt.Println("lost:", ev.Err) // messages may be missed from here...
		case resp.EventConnected:
			fmt.Println("subscribed") // ...until here: fetch them from the stream
		}
	}
}

func ExampleScript() {
	// Made once; Run sends the source only when the server lacks it.
	next := resp.NewScript(`return redis.call('INCRBY', KEYS[1], ARGV[1])`)
	c, _ := resp.NewClient(resp.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	n, err := resp.Int64(next.Run(context.Background(), c, []string{"counter"}, 5))
	fmt.Println(n, err, strings.ToUpper(next.Hash()[:8]))
}
