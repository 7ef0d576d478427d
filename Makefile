# ringchat — everything a user or CI runs. Only Go (and, for the browser
# test, Node.js with npm) is needed; the rest is fetched by these targets.

GO       ?= go
ADDR     ?= 127.0.0.1:8080
# How long each fuzz target runs in `make test`; `make fuzz` runs longer.
FUZZTIME ?= 4s
BIN      := bin

.PHONY: run-server test vet build bench fuzz fuzz-short clean

## run-server: build and run the chat server on $(ADDR)
run-server:
	$(GO) run ./cmd/server -addr $(ADDR)

## build: build the server, client and load tester into bin/
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## vet: go vet and gofmt
vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi

## test: everything CI checks — vet, the race-enabled tests, short fuzz runs
test: vet
	$(GO) test -race ./...
	$(MAKE) fuzz-short

## fuzz-short: every fuzz target for $(FUZZTIME)
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

## fuzz: every fuzz target for a minute
fuzz:
	$(MAKE) fuzz-short FUZZTIME=60s

## bench: the load-test matrix against a fresh server; rewrites BENCHMARKS.md
bench: build
	@echo "make bench: not wired yet"; exit 1

clean:
	rm -rf $(BIN)
