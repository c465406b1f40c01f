#!/usr/bin/env bash
# Userland instructions of loading a large cassette for replay, against a
# serde_json skim of the same file, counted by callgrind (steady where the
# clock is not; see docs/performance.md, "Loading a large cassette").
#
#   benches/load-instructions.sh [N]      # N interactions, 10000 by default
#
# Runs the bench binary's `__serve load N` helper (it writes the bench's
# N-interaction cassette, then reads and skims it once, `skim_floor`, and
# starts replay on it, `replay_start`) and prints the inclusive
# instructions of each and their ratio: the loading row, counted. Needs valgrind
# (apt-get install valgrind); builds the bench with `cargo bench --no-run`.
set -euo pipefail
count=${1:-10000}
here=$(cd "$(dirname "$0")" && pwd)
bench=$(cd "$here/.." && cargo bench --no-run --bench datovcr --message-format=json 2>/dev/null |
  grep '"kind":\["bench"\]' | grep -o '"executable":"[^"]*"' | tail -1 | sed 's/"executable":"//; s/"$//')
[ -x "$bench" ] || { echo "the bench binary was not found (cargo bench --no-run)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$work/load.cg" "$bench" __serve load "$count" 2>"$work/log" ||
  { cat "$work/log" >&2; exit 1; }
inclusive() {
  callgrind_annotate --inclusive=yes "$work/load.cg" 2>/dev/null |
    awk -v name="$1" '!found && index($0, name) {gsub(",", "", $1); print $1; found = 1}'
}
skim=$(inclusive 'helper::skim_floor')
load=$(inclusive 'helper::replay_start')
echo "read and skim: $skim instructions; replay start: $load instructions; ratio $(awk -v l="$load" -v s="$skim" 'BEGIN {printf "%.2f", l / s}')x"
