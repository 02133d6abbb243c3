#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for SECONDS each (default 30), one after the other, seeded from the
# project's own fixtures, and prints one summary line per target (executions, coverage, corpus size).
#
#   scripts/fuzz.sh                 # every target, 30 s each (the CI smoke run)
#   scripts/fuzz.sh 600 blob_stream # one target, a 10-minute campaign
#
# FUZZ_CORPUS_DIR=DIR keeps the learned corpus elsewhere than fuzz/corpus (CI starts from the seeds alone).
# FUZZ_SEED=N fixes libFuzzer's random seed (0, the default, picks one), so a short run repeats itself.
# A crash, a hang (one input over 10 s), a leak or an out-of-memory (over 2 GiB) fails the script; the
# input is left in fuzz/artifacts/<target>/ — reproduce with `cargo fuzz run <target> <file>` and add a
# regression test beside the code it breaks. See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
all_targets=(blob_stream record_normalize encode_payloads encode_syslog api_wire next_page_link config_toml)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install --locked cargo-fuzz
fi
# libFuzzer needs nightly-only compiler flags (sanitizers, coverage counters): use the nightly toolchain
# when there is one, else let the stable compiler accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# Seeds: the decoding fixtures (one record per file, and all of them as one blob), real public records,
# the example configs, and typical API answers and links.
seeds=fuzz/seeds
rm -rf "$seeds"
mkdir -p "$seeds"/{blob,record,syslog,wire,link,config}
python3 - "$seeds" <<'PYTHON'
import glob, json, os, sys
seeds = sys.argv[1]
records = []
for path in sorted(glob.glob("tests/fixtures/*.json")):
    records.append(open(path, "rb").read().strip())
for line in open("../shared/fixtures/real-atp-records.jsonl", "rb") if os.path.exists("../shared/fixtures/real-atp-records.jsonl") else []:
    if line.strip():
        records.append(line.strip())
for i, record in enumerate(records):
    open(f"{seeds}/record/{i:03}.json", "wb").write(record)
    open(f"{seeds}/syslog/{i:03}.bin", "wb").write(bytes([i % 256]) + record)
small = sorted(records, key=len)[:8]
open(f"{seeds}/blob/mixed.json", "wb").write(b"\x07[" + b",".join(small) + b"]")
open(f"{seeds}/blob/small.json", "wb").write(b"\x01\xef\xbb\xbf[ " + b" ,\n".join(records[:3]) + b" ]")
wire = [
    b'[{"contentType":"Audit.General","contentId":"20251124100319.abc$20251124100319.abc$audit_general$Audit_General$na0034","contentUri":"https://manage.office.com/api/v1.0/t/activity/feed/audit/20251124100319.abc","contentCreated":"2025-11-24T10:03:19.000Z","contentExpiration":"2025-12-01T10:03:19.000Z"}]',
    b'{"error":{"code":"AF429","message":"Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}}',
    b'{"error":{"code":"AF20055","message":"Start time and end time must both be specified"}}',
    b'[{"contentType":"Audit.General","status":"enabled","webhook":null}]',
    b"Wed, 21 Oct 2015 07:28:00 GMT",
    b"120",
    b"2025-11-24T10:03:19",
]
for i, body in enumerate(wire):
    open(f"{seeds}/wire/{i:03}", "wb").write(body)
links = [
    "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?contentType=Audit.General&nextPage=2025112410",
    "https://evil.example/steal",
    "https://user:pw@manage.office.com/x",
    "http://127.0.0.1:8080/api/v1.0/t/activity/feed/audit/abc",
    "//manage.office.com/x",
]
for i, link in enumerate(links):
    open(f"{seeds}/link/{i:03}", "w").write(link)
for path in sorted(glob.glob("config/*.toml")):
    open(f"{seeds}/config/{os.path.basename(path)}", "wb").write(open(path, "rb").read())
PYTHON

seed_dir() {
  case "$1" in
    blob_stream) echo "$seeds/blob" ;;
    record_normalize | encode_payloads) echo "$seeds/record" ;;
    encode_syslog) echo "$seeds/syslog" ;;
    api_wire) echo "$seeds/wire" ;;
    next_page_link) echo "$seeds/link" ;;
    config_toml) echo "$seeds/config" ;;
    *) echo "unknown fuzz target $1 (known: ${all_targets[*]})" >&2; exit 2 ;;
  esac
}

summary=()
for target in "${targets[@]}"; do
  seed="$(seed_dir "$target")"
  corpus="${FUZZ_CORPUS_DIR:-fuzz/corpus}/$target"
  mkdir -p "$corpus"
  log="fuzz/artifacts/$target.log"
  mkdir -p fuzz/artifacts
  echo "== fuzzing $target for ${seconds}s (log: $log)"
  if ! "${fuzz[@]}" run "$target" "$corpus" "$seed" -- -max_len=32768 -seed="${FUZZ_SEED:-0}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target FAILED: see $log and fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*')
  files=$(find "$corpus" -type f | wc -l)
  summary+=("$(printf '%-18s %6ss %12s execs %6s cov %7s ft %6s corpus' "$target" "$seconds" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$files")")
done
echo
echo "fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
printf '%s\n' "${summary[@]}"
