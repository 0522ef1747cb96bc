#!/usr/bin/env bash
# Prints the path of a Prometheus Alertmanager binary for the alert tests (tests/test_alerts.py)
# and a local try-out, building it once with `go install` from the Go module proxy into
# ~/.cache/openct/alertmanager/<version> (outside the clone).
#
# v0.28.1, not the newest: from v0.29 the module embeds a web UI that is built with npm and not in
# the module (v0.35.0: `go install` stops at ui/web.go:31, "pattern app/dist: no matching files").
# v0.28.1 carries its UI as generated Go (asset/assets_vfsdata.go); its v2 API is the same.
# Measured here: 38 s on 2 cores with a warm module cache, a 42 MB binary.
set -euo pipefail
VERSION=v0.28.1
DIR="${OPENCT_CACHE:-$HOME/.cache/openct}/alertmanager/$VERSION/bin"
BIN="$DIR/alertmanager"
if [ ! -x "$BIN" ]; then
  GO=$(command -v go || echo /usr/local/go/bin/go)
  if [ ! -x "$GO" ]; then
    echo "alertmanager.sh: needs Go (>= 1.22) to build Alertmanager $VERSION from the Go module proxy" >&2
    exit 1
  fi
  echo "alertmanager.sh: building Alertmanager $VERSION into $DIR (about a minute)" >&2
  GOBIN="$DIR" GOFLAGS=-mod=mod nice -n 10 "$GO" install "github.com/prometheus/alertmanager/cmd/alertmanager@$VERSION" >&2
fi
echo "$BIN"
