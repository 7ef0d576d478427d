#!/usr/bin/env bash
# install-redis.sh — makes sure redis-server is there for the tests.
#
# The tests of internal/resp (and the Redis store after it) start real
# redis-server processes of their own, on free loopback ports in temporary
# directories (internal/redistest). This script installs Debian's
# redis-server package when no redis-server is on the PATH, with apt-get —
# through sudo when not root — and fails loudly if it cannot: the Redis tests
# are never skipped. `make test` runs it first; it does nothing when
# redis-server is already installed.
#
# The package's own service (port 6379) is not needed by the tests; where
# the machine forbids starting services at install time (policy-rc.d, as in
# containers) it stays stopped, and where it starts it does not disturb them.
set -euo pipefail

fail() {
	echo "install-redis: FAIL: $*" >&2
	exit 1
}

if command -v redis-server >/dev/null; then
	exit 0
fi

echo "install-redis: redis-server is missing; installing Debian's redis-server"
command -v apt-get >/dev/null || fail "redis-server is not installed and there is no apt-get to install it (install Redis 7 or Valkey by hand)"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || fail "redis-server is not installed and this user cannot install it (not root, no sudo)"
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
timeout 900 $sudo apt-get update -qq || fail "apt-get update failed"
timeout 900 $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null || fail "apt-get install redis-server failed"
command -v redis-server >/dev/null || fail "redis-server was installed but is not on the PATH"
echo "install-redis: $(redis-server --version)"
