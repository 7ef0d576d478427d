#!/usr/bin/env bash
# bench-compression.sh — what permessage-deflate saves on the wire and costs
# the server, per delivery, at 5,000 clients in one room: 100-byte and
# 2 KiB messages (prose, not x padding), without and with compression,
# alternating, REPS times each, so that every pair sees the same machine.
#
#   make build && scripts/bench-compression.sh [REPS]
#
# Every row starts a fresh bin/server at its default flags (compression on,
# threshold 256 bytes) in an empty directory of its own, runs bin/loadtest
# with raw clients — offering permessage-deflate (-compression) or not —
# and stops the server with SIGTERM. It prints one line a row and the
# medians, as Markdown. It is not part of make bench: the matrix there has
# one message size for every row, and its five-minute budget is spent.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
reps="${1:-3}"
port=18470
[ -x "$bin/server" ] && [ -x "$bin/loadtest" ] || { echo "bench-compression: run make build first" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench-compression: jq is needed" >&2; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# row SIZE MODE N: one run; its JSON goes to $work/SIZE-MODE-N.json.
row() {
	local size=$1 mode=$2 n=$3 dir="$work/srv-$1-$2-$3"
	mkdir -p "$dir"
	(cd "$dir" && exec "$bin/server" -addr "127.0.0.1:$port" -log-level warn) &
	server_pid=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
		sleep 0.1 # polling a port that is not yet open: nothing to wait on
	done
	local z=()
	[ "$mode" = on ] && z=(-compression)
	"$bin/loadtest" -url "ws://127.0.0.1:$port/ws" -client raw "${z[@]}" -prose \
		-clients 5000 -senders 1 -rate 10 -duration 5s -size "$size" -ramp 5000 \
		-server-pid "$server_pid" -progress=false -json "$work/$size-$mode-$n.json" >/dev/null
	kill -TERM "$server_pid"
	wait "$server_pid" || true
	server_pid=""
	rm -rf "$dir"
}

figures='[.config.size, (if .config.compression then "on" else "off" end), .messages.sent, .messages.delivered, .messages.lost,
	.messages.wire_bytes_per_delivery, .server.cpu_per_delivery_us, .latency.p50_ms, .latency.p99_ms,
	.generator.cpu_per_delivery_us, .generator.machine_busy_send]'

echo "Every run, in the order run (load average before: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| size B | compression | sent | delivered | lost | wire B/delivery | server µs/delivery | p50 ms | p99 ms | generator µs/delivery | machine busy |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in $(seq "$reps"); do
	for size in 100 2048; do
		for mode in off on; do
			row "$size" "$mode" "$n"
			jq -r "$figures"' | "| \(.[0]) | \(.[1]) | \(.[2]) | \(.[3]) | \(.[4]) | \(.[5]|round) | \(.[6]*100|round/100) | \(.[7]*100|round/100) | \(.[8]*100|round/100) | \(.[9]*100|round/100) | \(.[10]*100|round)% |"' \
				"$work/$size-$mode-$n.json"
		done
	done
done

echo
echo "Medians of $reps runs each (load average after: $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| size B | compression | wire B/delivery | server µs/delivery | p50 ms | p99 ms |"
echo "| ---: | --- | ---: | ---: | ---: | ---: |"
for size in 100 2048; do
	for mode in off on; do
		jq -rs '
			def median: sort | if length % 2 == 1 then .[length/2|floor] else (.[length/2-1] + .[length/2]) / 2 end;
			"| '"$size"' | '"$mode"' | \(map(.messages.wire_bytes_per_delivery)|median|round) | \(map(.server.cpu_per_delivery_us)|median*100|round/100) | \(map(.latency.p50_ms)|median*100|round/100) | \(map(.latency.p99_ms)|median*100|round/100) |"' \
			"$work/$size-$mode-"*.json
	done
done
