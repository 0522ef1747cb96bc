#!/usr/bin/env bash
# Make a Docker engine usable here; does nothing when one already answers `docker info`.
#
#   deploy/docker-engine.sh          (idempotent; root on Debian/Ubuntu when it has to start one)
#
# Why this script exists: the project's machines (Debian 12 VMs run as root, no systemd) have no
# engine, and their sandbox's capability bounding set lacks CAP_SYS_RESOURCE, so plain runc fails
# `docker run --privileged` (which kind needs) with "unable to apply caps: operation not
# permitted". So: install Debian's docker.io if dockerd is missing, and start dockerd in the
# background with deploy/runc-boundcaps as its default runtime: it removes from the OCI spec
# (config.json at create/run, the --process file at exec) every capability the bounding set
# lacks, then runs runc; where nothing is missing it changes nothing.
# State (wrapper, dockerd log) lives outside the clone: OPENCT_CACHE, default ~/.cache/openct.
set -euo pipefail

state="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}/docker"
log="$state/dockerd.log"
wrapper="$state/runc-boundcaps"
timeout="${OPENCT_DOCKER_TIMEOUT:-60}"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if docker info >/dev/null 2>&1; then say "an engine answers already"; exit 0; fi
[ "$(id -u)" = 0 ] || die "no engine answers 'docker info', and starting one needs root"

if ! command -v dockerd >/dev/null; then
  command -v apt-get >/dev/null || die "no dockerd and no apt-get: install Docker for this system"
  say "installing docker.io with apt-get"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io jq >/dev/null
elif ! command -v jq >/dev/null; then
  apt-get install -y -qq --no-install-recommends jq >/dev/null
fi
command -v runc >/dev/null || die "no runc on PATH (it comes with docker.io)"
command -v jq >/dev/null || die "the runc wrapper needs jq (apt-get install jq)"
mkdir -p "$state"
# A copy outside the clone: the engine keeps running when the clone moves or goes.
cp "$(dirname "${BASH_SOURCE[0]}")/runc-boundcaps" "$wrapper.tmp"
chmod 755 "$wrapper.tmp" && mv "$wrapper.tmp" "$wrapper"

say "starting dockerd (runtime $wrapper, log $log)"
setsid dockerd --add-runtime "openct-runc=$wrapper" --default-runtime openct-runc </dev/null >>"$log" 2>&1 &
for _ in $(seq "$timeout"); do
  if docker info >/dev/null 2>&1; then say "engine ready ($(docker version -f '{{.Server.Version}}'))"; exit 0; fi
  kill -0 $! 2>/dev/null || break
  sleep 1
done
tail -n 20 "$log" >&2
die "dockerd did not answer 'docker info' within ${timeout}s (log: $log)"
