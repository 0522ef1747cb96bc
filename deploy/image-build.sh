# shellcheck shell=bash disable=SC2154  # cache, tool and key_label come from the sourcing script
# Shared by the scripts that build images here from package registries (deploy/kind-node/build.sh,
# deploy/kfp-images/build.sh): logging with timings, content keys, Go builds cached by key.
# Source it after setting `cache` (the script's cache directory), `tool` (its log prefix) and
# `key_label` (the image label that records the content key an image was built from).

: "${cache:?}" "${tool:?}" "${key_label:?}"

say() { printf '%s: %s\n' "$tool" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# step NAME CMD...: run CMD, log how long it took
step() {
  local name=$1 t0=$SECONDS
  shift
  "$@"
  say "$name: $((SECONDS - t0)) s"
  printf '%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$((SECONDS - t0))" >>"$cache/timings.log"
}

hash_of() { sha256sum | cut -c1-12; }
# content key of files/directories (names and contents), plus extra words
key_of() {
  local p
  {
    for p in "$@"; do
      if [ -e "$p" ]; then
        (cd "$(dirname "$p")" && find "$(basename "$p")" -type f -print0 | sort -z | xargs -0 sha256sum)
      else
        printf '%s\n' "$p"
      fi
    done
  } | hash_of
}

# docker's legacy builder (Debian's docker.io has no buildx) warns on every build: drop that
quiet_builder() { grep -v -e '^DEPRECATED: The legacy builder' -e 'Install the buildx component' \
  -e 'docs.docker.com/go/buildx' -e '^$' >&2 || true; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
# image_key IMAGE: the content key an image of ours was built from ("" if none)
image_key() { docker image inspect -f "{{index .Config.Labels \"$key_label\"}}" "$1" 2>/dev/null || true; }

# ---------------------------------------------------------------------------------- Go builds
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || die "no Go toolchain (go on PATH or /usr/local/go/bin/go)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOCACHE="$cache/go-build" GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
go_version=$("$go" env GOVERSION)
export go_version

# go_build MODULE_DIR OUT_DIR LDFLAGS PACKAGE...: build the commands into OUT_DIR (once per key),
# in the Go workspace $go_work when it is set (default off: the module's own go.mod)
go_build() {
  local dir=$1 out=$2 ldflags=$3
  shift 3
  [ -f "$out/.done" ] && return 0
  rm -rf "$out" && mkdir -p "$out"
  (cd "$dir" && GOWORK=${go_work:-off} nice -n 19 "$go" build -ldflags "$ldflags" -o "$out/" "$@")
  touch "$out/.done"
}
