#!/usr/bin/env bash
# Run a command in the ML Metadata server's own Python environment, building it on first use.
#
#   deploy/metadata-server/env.sh python deploy/metadata-server/server.py --grpc_port=8080 ...
#   deploy/metadata-server/env.sh            (no command: print the venv's path)
#
# Why a venv apart from deploy/localenv.sh: the server needs ml-metadata 1.17.1 (1.21, the pipeline's,
# dropped filter_query, which KFP's driver sends; see server.py), whose wheels are for CPython 3.9-3.11 on
# x86_64 Linux only, with protobuf 4; the pipeline's environment is Python 3.13 with protobuf 6. So: a
# venv from a host python3.11 (Debian 12's own; deploy/metadata-server/Dockerfile uses the same), with
# exactly requirements.txt (hash-checked, no resolver), outside the clone under
# OPENCT_CACHE (default ~/.cache/openct)/metadata-server-<hash of requirements.txt>: rebuilt only when
# that file changes. OPENCT_MLMD_PYTHON=/path/to/python3.11 picks the interpreter.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req="$here/requirements.txt"
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}"
venv="$cache/metadata-server-$(sha256sum "$req" | cut -c1-16)"

say() { printf 'metadata-server env: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

python311() {
  local py
  for py in "${OPENCT_MLMD_PYTHON:-}" /usr/bin/python3.11 python3.11; do
    if [ -z "$py" ] || ! command -v "$py" >/dev/null 2>&1; then continue; fi
    if "$py" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$py"; return 0
    fi
  done
  return 1
}

build() {
  # Built in place (a venv's scripts name its path), under a lock so that concurrent callers build
  # once; .complete marks a finished one, and a half-made one is removed and made again.
  [ -e "$venv/.complete" ] && return 0
  mkdir -p "$cache"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -e "$venv/.complete" ]; then
    local py
    py=$(python311) || die "needs CPython 3.11 with venv (ml-metadata 1.17.1 has wheels for 3.9-3.11, x86_64 Linux only):
  Debian 12: apt-get install python3.11 python3.11-venv; or set OPENCT_MLMD_PYTHON=/path/to/python3.11"
    say "creating $venv with $py from requirements.txt (once per requirements.txt)"
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$req" ||
      { rm -rf "$venv"; die "pip install -r $req failed"; }
    "$venv/bin/python" -m pip check >/dev/null || { "$venv/bin/python" -m pip check >&2; rm -rf "$venv"; die "inconsistent $req"; }
    touch "$venv/.complete"
  fi
  flock -u 9
  exec 9>&-
}

build
if [ $# -eq 0 ]; then
  echo "$venv"
  exit 0
fi
PATH="$venv/bin:$PATH" exec "$@"
