#!/usr/bin/env bash
# Builds the release binaries (atp-forwarder and bench) the way they ship: profile-guided (PGO).
#
#   scripts/release-build.sh            # PGO when an llvm-profdata of rustc's LLVM version is found, else plain
#   scripts/release-build.sh --locked   # extra arguments go to every `cargo build`
#   PGO=0 scripts/release-build.sh      # a plain `cargo build --release`, for comparison
#
# Three steps (BENCHMARKS.md, step 48):
#   1. an instrumented build (`-Cprofile-generate`) into $target/pgo-instrumented;
#   2. its training run: `bench --phases train` sends a 100,020-record history of its own seed (not the
#      benchmark's) through the instrumented daemon into syslog/ecs and file/json, cef and leef, and through
#      the floor; it fails unless every ATP record arrived;
#   3. the release build proper (`-Cprofile-use`) into $target/release, as a plain build would.
# It prints how the binaries were built on stdout (scripts/bench.sh puts that in BENCHMARKS.md); everything
# else goes to stderr. llvm-profdata comes from `rustup component add llvm-tools`, or from Debian's llvm-N
# package of the same major version (llvm-22 for rustc 1.95; installed here when run as root); without one
# the build is plain and says so. Honours CARGO_TARGET_DIR and adds to RUSTFLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
bins=(--bin atp-forwarder --bin bench)
log() { echo "release-build: $*" >&2; }

# A plain release build; $1 says why, the rest goes to cargo.
plain_build() {
  local why="$1"
  shift
  cargo build --release "${bins[@]}" "$@" >&2
  echo "plain cargo build --release ($why)"
}

rustc_version="$(rustc -vV)"
llvm_major="$(sed -n 's/^LLVM version: \([0-9]*\).*/\1/p' <<<"$rustc_version")"
host="$(sed -n 's/^host: //p' <<<"$rustc_version")"

# An llvm-profdata whose major version is rustc's LLVM's (the profile format changes between majors).
find_profdata() {
  local candidate version
  for candidate in \
    "${LLVM_PROFDATA:-}" \
    "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" \
    "$(command -v "llvm-profdata-$llvm_major" || true)" \
    "/usr/lib/llvm-$llvm_major/bin/llvm-profdata" \
    "$(command -v llvm-profdata || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    version="$("$candidate" --version 2>/dev/null | sed -n 's/.*LLVM version \([0-9]*\).*/\1/p' | head -1)"
    if [[ "$version" == "$llvm_major" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [[ "${PGO:-1}" == 0 ]]; then
  log "PGO=0: a plain release build"
  plain_build "PGO=0" "$@"
  exit 0
fi
if ! profdata="$(find_profdata)" && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing Debian's llvm-$llvm_major for llvm-profdata"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -qq --no-install-recommends "llvm-$llvm_major" >/dev/null 2>&1; }
  apt_install || { apt-get update -qq >/dev/null 2>&1 && apt_install; } \
    || log "apt-get install llvm-$llvm_major failed"
fi
if ! profdata="$(find_profdata)"; then
  log "no llvm-profdata of LLVM $llvm_major found (rustup component add llvm-tools, or Debian's llvm-$llvm_major); a plain release build"
  plain_build "no llvm-profdata $llvm_major" "$@"
  exit 0
fi

instrumented="$target_dir/pgo-instrumented"
raw="$target_dir/pgo/raw"
merged="$target_dir/pgo/merged.profdata"
flags="${RUSTFLAGS:-}"
training_blobs=60

log "1/3 instrumented build into $instrumented"
RUSTFLAGS="$flags -Cprofile-generate=$raw" cargo build --release --target-dir "$instrumented" "${bins[@]}" "$@" >&2

if [[ -f "$merged" && "$merged" -nt "$instrumented/release/atp-forwarder" && "$merged" -nt "$instrumented/release/bench" ]]; then
  # rustc tracks the profile file: a new one rebuilds every crate, so it is only made for new binaries.
  log "2/3 the profile is newer than the instrumented binaries: no training run"
else
  log "2/3 training run"
  # Build scripts ran instrumented too: only the training run's profiles are kept.
  rm -rf "$raw" "$merged"
  mkdir -p "$raw"
  LLVM_PROFILE_FILE="$raw/%m_%p.profraw" \
    "$instrumented/release/bench" --daemon "$instrumented/release/atp-forwarder" \
    --phases train --blobs "$training_blobs" >&2
  "$profdata" merge -o "$merged" "$raw"
fi

log "3/3 release build with the profile ($merged)"
RUSTFLAGS="$flags -Cprofile-use=$merged" cargo build --release "${bins[@]}" "$@" >&2
echo "profile-guided (scripts/release-build.sh: trained on $training_blobs blobs of another seed, all four formats)"
