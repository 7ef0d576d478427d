# ringchat — everything a user or CI runs. Only Go (and, for the browser
# test, Node.js with npm) is needed; the rest is fetched by these targets.

GO       ?= go
ADDR     ?= 127.0.0.1:8080
# How long each fuzz target runs in `make test`; `make fuzz` runs longer.
FUZZTIME ?= 4s
BIN      := bin

.PHONY: run-server run-cluster test test-web vet build bench bench-cluster soak fuzz fuzz-short clean

## run-server: build and run the chat server on $(ADDR)
run-server:
	$(GO) run ./cmd/server -addr $(ADDR)

## run-cluster: Redis and three chat servers on 127.0.0.1:8080-8082 sharing
## the rooms, until Ctrl-C (installs redis-server when it is missing)
run-cluster:
	bash scripts/run-cluster.sh

## build: build the server, client, load tester and bench driver into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## vet: go vet and gofmt
vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

## test: everything CI checks — vet, the race-enabled tests, the chat tests
## again with a reading goroutine per connection (the way without epoll: TLS,
## systems other than Linux), the allocation checks (which the race
## detector's sync.Pool would spoil), short fuzz runs, and the web page in a
## real browser
test: vet
	bash scripts/install-redis.sh
	$(GO) test -race ./...
	RINGCHAT_TEST_READERS=goroutine $(GO) test ./chat
	$(GO) test -run 'Allocs' ./...
	$(MAKE) fuzz-short
	$(MAKE) test-web

## test-web: the web page's end-to-end test in headless Chromium (installs chromium and playwright-core)
test-web:
	bash chat/web/e2e/run.sh

## fuzz-short: every fuzz target for $(FUZZTIME) (see scripts/fuzz-short.sh)
fuzz-short:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash scripts/fuzz-short.sh

## fuzz: every fuzz target for a minute
fuzz:
	$(MAKE) fuzz-short FUZZTIME=60s

## bench: the load-test matrix against a fresh server; rewrites BENCHMARKS.md
bench: build
	$(BIN)/bench -server $(BIN)/server -loadtest $(BIN)/loadtest -go $(GO) -out BENCHMARKS.md -save $(BIN)/bench-results

## bench-cluster: issue 12's cluster figures — 15,000 clients on one node
## beside 3 nodes x 5,000 sharing a fresh Redis, five rounds, then 90,000
## clients over 5 nodes from 6 generator processes; rewrites only the
## cluster region of BENCHMARKS.md (about 5 minutes, at most 7; installs
## redis-server when it is missing)
bench-cluster: build
	bash scripts/install-redis.sh
	$(BIN)/bench -cluster -server $(BIN)/server -loadtest $(BIN)/loadtest -out BENCHMARKS.md -save $(BIN)/bench-results

## soak: about 2,000 clients of mixed behaviour for 2 min 20 s against a fresh
## server with its default flags, checking every event the observers get; rewrites
## the reliability tables of BENCHMARKS.md (under 3 minutes; go test runs a
## 10-second version)
soak: build
	$(BIN)/bench -soak -server $(BIN)/server -out BENCHMARKS.md -save $(BIN)/bench-results

clean:
	rm -rf $(BIN)
