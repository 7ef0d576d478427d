#!/usr/bin/env bash
# run.sh — the end-to-end test of ringchat's web page in a real browser.
#
# The one entry point (make test calls it): it installs what the test needs
# on a fresh machine — Debian's chromium with apt-get when /usr/bin/chromium
# is missing, playwright-core from the npm registry with `npm ci` — builds
# the server and terminal client, and runs chat.test.mjs with node. If
# anything cannot be installed it fails, loudly: the browser test is never
# skipped. Screenshots and logs of a failure go to artifacts/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
GO="${GO:-go}"
start=$SECONDS

fail() {
	echo "e2e: FAIL: $*" >&2
	exit 1
}

# Chromium, from Debian's packages (a browser download of playwright's own
# cannot work on machines that reach only package registries).
if [ ! -x "$CHROMIUM" ]; then
	echo "e2e: $CHROMIUM is missing; installing Debian's chromium"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || fail "chromium is not installed and this user cannot install it (not root, no sudo)"
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	timeout 900 $sudo apt-get update -qq || fail "apt-get update failed"
	timeout 900 $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null || fail "apt-get install chromium failed"
	[ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM is not there"
fi

# Node.js and playwright-core, at the version package-lock.json pins.
command -v node >/dev/null || fail "node is not installed (Node.js 20 or newer is needed)"
command -v npm >/dev/null || fail "npm is not installed"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
	fail "Node.js $(node --version) is too old: playwright-core needs 20 or newer"
(cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci (playwright-core) failed"

# The binaries under test, built once.
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
(cd "$root" && "$GO" build -o "$bin/" ./cmd/server ./cmd/client) || fail "go build failed"

echo "e2e: $("$CHROMIUM" --version 2>/dev/null), playwright-core $(node -p 'require("'"$here"'/node_modules/playwright-core/package.json").version'), set up in $((SECONDS - start)) s"
rm -rf "$here/artifacts"
# The test bounds every wait and stops its processes itself; timeout is the
# last resort if node itself hangs.
RINGCHAT_BIN="$bin" CHROMIUM="$CHROMIUM" timeout -k 10 240 \
	node --test-reporter=spec "$here/chat.test.mjs"
