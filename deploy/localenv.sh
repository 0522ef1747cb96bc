#!/usr/bin/env bash
# Run a command inside the project's pinned Python environment, building it on first use.
#
#   deploy/localenv.sh [CMD ARGS...]     (no CMD: print which environment would be used)
#   deploy/localenv.sh --relock          rewrite requirements.lock by resolving pyproject.toml
#                                         in the target userland (deploy/relock.sh)
#
# Why this script exists: tfx 1.21.0 is the only TFX for Python >= 3.11, and its
# ml-metadata / tensorflow-data-validation wheels need glibc >= 2.39. So:
#   * host mode   - the host takes the wheels (Linux glibc >= 2.39 or macOS, Python >= 3.11):
#                   a venv built from requirements.lock;
#   * trixie mode - older Linux (e.g. Debian 12, glibc 2.36) as root: a Debian 13 userland made
#                   with `debootstrap --variant=minbase`, entered with `bwrap`, with the venv
#                   from requirements.lock bound inside and the repository at the same path;
#   * otherwise   - a message that says what is missing and what to do instead.
# Both environments live outside the clone (OPENCT_CACHE, default ~/.cache/openct); the venv is
# keyed by the hash of requirements.lock, so it is rebuilt only when the lock changes.
# OPENCT_ENV=host|trixie forces a mode. OPENCT_BIND="/a /b" binds more host paths in trixie mode.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lock="$repo/requirements.lock"
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}"
suite=trixie
mirror="${OPENCT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Debian packages of the userland; part of the rootfs key so that a change rebuilds it.
debs=python3,python3-venv,python3-dev,g++,ca-certificates  # g++: pyfarmhash has no wheel
inner_venv=/opt/openct/venv

say() { printf 'localenv: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ -f "$lock" ] || [ "${1:-}" = --relock ] || die "missing $lock (make it with: deploy/localenv.sh --relock)"
lock_key=$( { cat "$lock" 2>/dev/null || echo none; } | sha256sum | cut -c1-16)

glibc_ok() {
  # glibc >= 2.39 (manylinux_2_39 wheels of ml-metadata and tfdv).
  local v
  v=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$v" ] || return 1
  [ "$(printf '%s\n2.39\n' "$v" | sort -V | head -n1)" = "2.39" ]
}

host_python() {
  local py
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  return 1
}

choose_mode() {
  case "${OPENCT_ENV:-auto}" in
    host|trixie) echo "$OPENCT_ENV"; return ;;
    auto) ;;
    *) die "OPENCT_ENV must be auto, host or trixie (got '${OPENCT_ENV}')" ;;
  esac
  if { [ "$(uname -s)" = Darwin ] || glibc_ok; } && host_python >/dev/null; then
    echo host
  elif [ "$(uname -s)" = Linux ] && [ "$(id -u)" = 0 ]; then
    echo trixie
  else
    echo none
  fi
}

# Build $2 (a directory) with the function $1 into a temporary sibling, then rename it into
# place, under a lock so that concurrent callers build once and never see a half-made tree.
build_once() {
  local fn=$1 dest=$2
  [ -e "$dest/.complete" ] && return 0
  mkdir -p "$(dirname "$dest")"
  exec 9>"$dest.lock"
  flock 9
  if [ ! -e "$dest/.complete" ]; then
    rm -rf "$dest.tmp" "$dest"
    "$fn" "$dest.tmp"
    touch "$dest.tmp/.complete"
    mv "$dest.tmp" "$dest"
  fi
  flock -u 9
}

pip_install_lock() {
  # $1: the venv's python. Installs exactly the lock (no resolver surprises: --no-deps), then
  # lets pip check that the pinned set is consistent.
  "$1" -m pip install --quiet --disable-pip-version-check --no-deps -r "$lock"
  "$1" -m pip check >/dev/null || { "$1" -m pip check >&2; return 1; }
}

# ---- host mode -----------------------------------------------------------------------------
make_host_venv() {
  local py; py=$(host_python) || die "no Python >= 3.11 on PATH"
  say "creating venv $1 from requirements.lock with $py (a few minutes, once per lock)"
  "$py" -m venv "$1"
  pip_install_lock "$1/bin/python"
}

run_host() {
  local venv="$cache/venv-host-$lock_key"
  build_once make_host_venv "$venv"
  [ $# -gt 0 ] || { echo "host venv $venv"; return 0; }
  PATH="$venv/bin:$PATH" PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$@"
}

# ---- trixie mode ---------------------------------------------------------------------------
need_tools() {
  local missing=()
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v bwrap >/dev/null || missing+=(bubblewrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "installing ${missing[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "this host needs ${missing[*]} (apt-get install ${missing[*]}) to build the Debian 13 environment"
  fi
}

make_rootfs() {
  say "building a Debian 13 ($suite) userland in $1 with debootstrap (about 1 minute, once)"
  debootstrap --variant=minbase --include="$debs" "$suite" "$1" "$mirror" >"$1.log" 2>&1 ||
    { tail -n 20 "$1.log" >&2; die "debootstrap failed (full log: $1.log)"; }
  rm -f "$1.log"
  # The host's resolver and CA bundle, so that pip inside reaches the registry as the host does.
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$1$inner_venv" "$1/root/.cache/pip"
}

bwrap_in() {
  # $1: rootfs, $2: host venv dir (bound at $inner_venv); rest: command.
  local root=$1 venv=$2; shift 2
  local binds=(--bind "$repo" "$repo")
  local p
  for p in ${OPENCT_BIND:-}; do mkdir -p "$p"; done
  for p in /tmp ${OPENCT_BIND:-}; do
    case "$p" in "$repo"|"$repo"/*|/tmp/*) continue ;; esac
    [ -e "$p" ] && binds+=(--bind "$p" "$p")
  done
  # The host's kubectl (a static Go binary) for the offline manifest tests: Debian ships none.
  local kubectl
  if kubectl=$(command -v kubectl 2>/dev/null); then
    binds+=(--ro-bind "$(readlink -f "$kubectl")" /usr/local/bin/kubectl)
  fi
  # The host's Docker CLI and engine socket, for the tests that run the pipeline image.
  local docker
  if docker=$(command -v docker 2>/dev/null) && [ -S /var/run/docker.sock ]; then
    binds+=(--ro-bind "$(readlink -f "$docker")" /usr/local/bin/docker --bind /var/run/docker.sock /run/docker.sock)
  fi
  mkdir -p "$cache/pip"
  exec bwrap --bind "$root" / --proc /proc --dev /dev \
    --ro-bind /etc/resolv.conf /etc/resolv.conf \
    --bind "$venv" "$inner_venv" --bind "$cache/pip" /root/.cache/pip \
    "${binds[@]}" --unshare-pid --die-with-parent --chdir "$PWD" \
    --setenv PATH "$inner_venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --setenv PYTHONPATH "$repo" --setenv HOME /root --unsetenv PIP_FIND_LINKS \
    "$@"
}

make_trixie_venv() {
  say "creating venv from requirements.lock inside the Debian 13 userland (about 2-3 minutes, once per lock)"
  mkdir -p "$1"
  ( bwrap_in "$rootfs" "$1" bash -c "python3 -m venv $inner_venv && $(declare -f pip_install_lock); lock='$lock'; pip_install_lock $inner_venv/bin/python" )
}

run_trixie() {
  need_tools
  rootfs=$(rootfs_path)
  build_once make_rootfs "$rootfs"
  local venv="$cache/venv-$suite-$lock_key"
  build_once make_trixie_venv "$venv"
  [ $# -gt 0 ] || { echo "trixie rootfs $rootfs, venv $venv"; return 0; }
  bwrap_in "$rootfs" "$venv" "$@"
}

rootfs_path() { echo "$cache/rootfs-$suite-$(printf '%s' "$debs" | sha256sum | cut -c1-12)"; }

mode=$(choose_mode)
if [ "${1:-}" = --relock ]; then
  say "resolving pyproject.toml in $mode mode into $lock"
  case "$mode" in
    host) exec bash "$repo/deploy/relock.sh" ;;
    trixie) need_tools; rootfs=$(rootfs_path); build_once make_rootfs "$rootfs"
            mkdir -p "$cache/relock-venv"
            bwrap_in "$rootfs" "$cache/relock-venv" bash "$repo/deploy/relock.sh" ;;
    *) die "no environment can be built here (run deploy/localenv.sh for the reason)" ;;
  esac
fi
case "$mode" in
  host) run_host "$@" ;;
  trixie) run_trixie "$@" ;;
  *)
    die "cannot make the TFX 1.21 environment here.
  It needs Linux with glibc >= 2.39 (or macOS) and Python >= 3.11 for a venv, or root on Linux to
  build a Debian 13 userland (debootstrap + bubblewrap). This host: $(uname -s), glibc
  $(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}'), user $(id -un).
  Alternatives: run as root (the userland is built once, in ~/.cache/openct), use a distribution
  with glibc >= 2.39 (Debian 13, Ubuntu 24.04), or run inside a Debian 13 container." ;;
esac
