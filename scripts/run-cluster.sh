#!/usr/bin/env bash
# run-cluster.sh — a local cluster: one redis-server and three chat servers
# pointed at it, on 127.0.0.1:8080, 8081 and 8082, until Ctrl-C.
#
# Redis runs on 127.0.0.1:${REDIS_PORT:-6390} with append-only persistence
# (appendfsync everysec) in .cluster/redis, so the rooms' history survives
# a restart of the whole cluster; remove .cluster to start afresh. Each
# node logs to .cluster/nodeN.log. Connect clients to any node: they share
# the rooms, the ids, the epochs and who is where.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
GO="${GO:-go}"
REDIS_PORT="${REDIS_PORT:-6390}"
state="$root/.cluster"

bash "$here/install-redis.sh"
mkdir -p "$state/redis" "$root/bin"
(cd "$root" && "$GO" build -o bin/ ./cmd/server)

pids=()
stop() {
	trap - INT TERM EXIT
	echo "run-cluster: stopping"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$state/redis" \
	--appendonly yes --appendfsync everysec --save "" --daemonize no \
	>"$state/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then break; fi
	sleep 0.1
done

for i in 0 1 2; do
	port=$((8080 + i))
	"$root/bin/server" -addr "127.0.0.1:$port" -redis "redis://127.0.0.1:$REDIS_PORT" -node "node$((i + 1))" \
		>"$state/node$((i + 1)).log" 2>&1 &
	pids+=($!)
done

echo "run-cluster: redis on 127.0.0.1:$REDIS_PORT, nodes on http://127.0.0.1:8080/, :8081/, :8082/ (logs in .cluster/); Ctrl-C stops them"
wait -n "${pids[@]}" || true
echo "run-cluster: a process ended by itself; see .cluster/*.log" >&2
