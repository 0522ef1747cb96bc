#!/usr/bin/env bash
# Run the KFP UI browser check (ui-check.cjs) or its self-test (`run.sh --self-test`) with
# playwright-core from package-lock.json, installed once outside the clone (OPENCT_CACHE, default
# ~/.cache/openct, keyed by the lock) and Debian's Chromium (CHROMIUM, default /usr/bin/chromium).
#
#   tests/ui_check/run.sh --ui http://localhost:8080 [--out DIR] [--pipeline NAME] ...
#   tests/ui_check/run.sh --self-test
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}"
say() { printf 'ui-check: %s\n' "$*" >&2; }

# missing PROGRAM HINT: the check cannot run; its self-test (part of `make test`) is skipped, saying why
missing() {
  if [ "${1:-}" = --self-test ]; then say "self-test SKIPPED: needs $2"; exit 0; fi
  say "needs $2"; exit 2
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing "${1:-}" "Node.js 20+ and npm (Debian: apt-get install nodejs npm)"
fi
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || missing "${1:-}" "Chromium at $chromium (Debian: apt-get install chromium; or set CHROMIUM)"

key=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
deps="$cache/ui-check-$key"
if [ ! -f "$deps/.done" ]; then
  say "installing playwright-core (package-lock.json) into $deps"
  rm -rf "$deps" && mkdir -p "$deps"
  cp "$here/package.json" "$here/package-lock.json" "$deps/"
  # --ignore-scripts: playwright-core has no install script; nothing is downloaded but the package
  (cd "$deps" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  touch "$deps/.done"
fi
export NODE_PATH="$deps/node_modules" CHROMIUM="$chromium"
if [ "${1:-}" = --self-test ]; then
  exec node --test --test-reporter=spec "$here/ui-check.test.cjs"
fi
exec node "$here/ui-check.cjs" "$@"
