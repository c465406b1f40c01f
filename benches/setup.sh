#!/bin/sh
# Installs what the binary-level rows of `cargo bench --bench datovcr` need,
# when it is missing: the load generator (wrk, Debian package) and the peer
# (talkback 4.2, npm, into target/bench-peers). Idempotent; the bench runs it
# before its binary rows. Exit status 0 when wrk is usable (talkback is
# optional: its rows are skipped without it).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
peers="${DATOVCR_BENCH_PEERS:-$here/target/bench-peers}"
talkback_version=4.2.0

if ! command -v wrk >/dev/null 2>&1; then
    echo "setup: installing wrk (apt-get)" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get install -y wrk >&2 || {
        $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2
    } || echo "setup: could not install wrk; install it (apt-get install wrk) and rerun" >&2
fi

installed=$(node -p "require('$peers/node_modules/talkback/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$talkback_version" ]; then
    if command -v npm >/dev/null 2>&1; then
        echo "setup: installing talkback@$talkback_version into $peers (npm)" >&2
        mkdir -p "$peers"
        npm install --prefix "$peers" --no-audit --no-fund --silent "talkback@$talkback_version" >&2 \
            || echo "setup: npm could not install talkback; its peer rows will be skipped" >&2
    else
        echo "setup: npm not found; the talkback peer rows will be skipped (install Node.js 18+)" >&2
    fi
fi

command -v wrk >/dev/null 2>&1
