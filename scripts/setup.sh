#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian machine with only node and npm:
# Debian packages the lab and tests use, npm packages, the TypeScript build and
# the native addon. Fast when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

# shellcheck source=scripts/apt-no-start.sh
source scripts/apt-no-start.sh

# command -> Debian package
declare -A NEED=(
  [nft]=nftables [ip]=iproute2 [curl]=curl [tshark]=tshark
  [keepalived]=keepalived [haproxy]=haproxy [nginx]=nginx-light [wrk]=wrk
  [iperf3]=iperf3 [ethtool]=ethtool [ss]=iproute2 [ping]=iputils-ping
  [pkill]=procps [sysctl]=procps [vagrant]=vagrant [g++]=g++ [make]=make [python3]=python3
  [openssl]=openssl [taskset]=util-linux [editcap]=tshark [bird]=bird2 [birdc]=bird2
  [iptables]=iptables
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages: ${missing[*]} (run as root to install them)"; exit 1
  fi
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  log "installing Debian packages: $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # The Debian packages would start (and enable) their daemons; the lab starts its
  # own copies in namespaces. Keep them from starting rather than killing anything
  # afterwards: a process of the same name may be the user's own service.
  known_before=$(installed_packages)
  policy_rc_block
  trap policy_rc_restore EXIT
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
  policy_rc_restore
  trap - EXIT
  disable_units_enabled_by "$known_before"
fi

# npm packages: reinstall only when the lockfile changed.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.setup-lock ] || [ "$(cat node_modules/.setup-lock)" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --ignore-scripts >/dev/null
  echo "$lock_sum" > node_modules/.setup-lock
fi

log "tsc"
npx tsc -p tsconfig.json
log "bundle"
node scripts/bundle.mjs

# The addon: rebuild when its sources changed.
if [ -f native/binding.gyp ]; then
  src_sum=$(cat native/binding.gyp native/src/* 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ ! -f native/build/.setup-src ] || [ "$(cat native/build/.setup-src)" != "$src_sum" ]; then
    log "building native addon"
    npm run --silent build:native >/dev/null
    echo "$src_sum" > native/build/.setup-src
  fi
fi
log "ready"
