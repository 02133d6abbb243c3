#!/usr/bin/env bash
# Runs every check and test of atp-forwarder: formatting, clippy, cargo deny, and the whole test suite (unit tests,
# integration tests against the emulator, real rsyslog and HTTP receivers, PostgreSQL).
# On a fresh Debian machine, run as root: missing Debian packages the tests need are installed first.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || need_packages+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need_packages+=(rsyslog-gnutls)
ls /usr/lib/*/rsyslog/imrelp.so >/dev/null 2>&1 || need_packages+=(rsyslog-relp)
command -v openssl >/dev/null 2>&1 || need_packages+=(openssl)
# tests/ops_*.rs: systemd-analyze rates deploy/atp-forwarder.service, promtool lints a live /metrics,
# kubernetes-validate (PyPI) checks deploy/kubernetes against the Kubernetes schemas.
command -v systemd-analyze >/dev/null 2>&1 || need_packages+=(systemd)
command -v promtool >/dev/null 2>&1 || need_packages+=(prometheus)
need_kubernetes_validate=false
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  need_kubernetes_validate=true
  python3 -m pip --version >/dev/null 2>&1 || need_packages+=(python3-pip)
fi
if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages the tests need: ${need_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_packages[*]} (run as root or install them first)" >&2
    exit 1
  fi
fi

if [ "$need_kubernetes_validate" = true ]; then
  echo "installing kubernetes-validate (PyPI) for the manifest tests"
  python3 -m pip install -q kubernetes-validate \
    || python3 -m pip install -q --break-system-packages kubernetes-validate
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  export PATH="$PATH:$HOME/.local/bin"
fi

if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny (crates.io) for the supply-chain check"
  cargo install --locked cargo-deny
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Licenses, duplicate crates and sources against deny.toml (advisories need the network: see deny.toml).
cargo deny --locked check licenses bans sources
cargo test --all-targets --locked "$@"
