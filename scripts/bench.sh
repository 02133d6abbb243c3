#!/usr/bin/env bash
# The benchmark in one command: builds the release binaries as they ship (scripts/release-build.sh:
# profile-guided when it can be, `PGO=0` for a plain build), then runs `bench`, which starts the
# emulator in-process, runs the release daemon against it in five phases (end to end over a 1,000,200-record
# history into syslog/ecs and file/json, the single-threaded floor on the same bytes, one 100 MB blob, a
# time-scaled 7-day backfill under a 2,000-requests-per-minute budget, live-arrival lag at two poll
# intervals), prints the table and writes it into BENCHMARKS.md (between the results markers).
#
#   scripts/bench.sh                      # everything (7-25 minutes on 2 cores, by host; +10 after a source change)
#   PGO=0 scripts/bench.sh --print-only   # the same with a plain release build
#   scripts/bench.sh --phases e2e,memory  # a subset: e2e, memory (stalled: its stalled-sink part), budget, lag, lag-default
#   scripts/bench.sh --print-only         # print only
#
# Honours CARGO_TARGET_DIR. CPU seconds and RSS are the reliable numbers; wall times depend on the machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
build="$(scripts/release-build.sh)"

# Results go to BENCHMARKS.md unless `--write FILE` names another file or `--print-only` is given.
write=(--write BENCHMARKS.md)
args=()
for arg in "$@"; do
  case "$arg" in
    --write) write=() ; args+=("$arg") ;;
    --print-only) write=() ;;
    *) args+=("$arg") ;;
  esac
done

exec "$target_dir/release/bench" --daemon "$target_dir/release/atp-forwarder" --build "$build" \
  "${write[@]}" "${args[@]}"
