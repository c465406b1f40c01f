#!/usr/bin/env bash
# Userland instructions per request of a server process, counted by
# callgrind (steady where `perf stat` counts nothing; see docs/performance.md,
# "Profile"). The server must print `listening on http://ADDR` on stdout.
#
#   benches/instructions.sh NAME CONNECTIONS -- COMMAND...
#   benches/instructions.sh replay 8 -- target/release/datovcr replay \
#       --cassette cassettes/access-tokens-docs.json --listen 127.0.0.1:0 --quiet
#
# wrk sends benches/create.lua for 1 s of warm-up, then 4 s with callgrind's
# counters zeroed; the total is divided by wrk's request count. Needs wrk and
# valgrind (benches/setup.sh installs wrk; valgrind: apt-get install valgrind).
set -euo pipefail
name=$1 connections=$2
shift 3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap '{ kill -9 "$pid"; wait "$pid"; } 2>/dev/null || true; rm -rf "$work"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$work/$name.cg" "$@" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q 'listening on http://' "$work/log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; exit 1; }
  sleep 0.05
done
url=$(grep -o 'listening on http://[0-9.:]*' "$work/log" | head -1 | sed 's/listening on //')
wrk -t1 -c"$connections" -d1s -s "$here/create.lua" "$url/access_tokens" >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
out=$(wrk -t1 -c"$connections" -d4s -s "$here/create.lua" "$url/access_tokens")
callgrind_control -d "$pid" >/dev/null 2>&1
requests=$(awk '/requests in/{print $1}' <<<"$out")
total=$(callgrind_annotate "$work/$name.cg.1" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
echo "$name: $requests requests, $((total / requests)) instructions per request (userland)"
grep -i 'non-2xx' <<<"$out" || true
