#!/usr/bin/env bash
# Exit 0 when Docker can get the Dockerfile's pinned base image (already here, or pulled within
# 60 s), 1 otherwise. The Makefile's IMAGES=auto uses it to choose between upstream images and
# the ones built here from package registries (deploy/base-image.sh, deploy/kind-node/build.sh).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=$(sed -nE 's/^ARG BASE_IMAGE=(.+)$/\1/p' "$repo/deploy/Dockerfile")
[ -n "$base" ] || { echo "registry.sh: no ARG BASE_IMAGE in deploy/Dockerfile" >&2; exit 2; }
docker image inspect "$base" >/dev/null 2>&1 && exit 0
timeout 60 docker pull -q "$base" >/dev/null 2>&1
