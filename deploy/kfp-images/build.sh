#!/usr/bin/env bash
# Build (once) the container images the Kubeflow Pipelines 2.17.0 manifests run, from package
# registries only, tagged exactly as those manifests ask; print the image references built.
#
#   deploy/kfp-images/build.sh                 (root, a Docker engine, Go, the Go module proxy)
#   for i in $(deploy/kfp-images/build.sh); do kind load docker-image "$i"; done
#
# What it builds (the style of deploy/kind-node/build.sh: a scratch module per program next to
# this script pins every version and checksum; binaries cached by content key; images on our
# Debian base, deploy/base-image.sh):
#   - Argo Workflows v4.0.5 (argo/): quay.io/argoproj/workflow-controller:v4.0.5 and
#     quay.io/argoproj/argoexec:v4.0.5, as manifests/kustomize/third-party/argo/base/
#     workflow-controller-deployment-patch.yaml of KFP 2.17.0 names them.
#   - The KFP 2.17.0 backend (kfp/, ghcr.io/kubeflow/kfp-*:2.17.0): only when kfp/go.mod exists.
#     It does not yet: the module proxy reachable here answers 403 "This module version is not
#     available" for github.com/kubeflow/pipelines@v0.0.0-20260709152847-4a3592cb2dd0 (the
#     pseudo-version of tag 2.17.0, commit 4a3592cb2dd0a91a4652ab93893ec8beda1f3158) and for
#     every other form of that version, so there is no registry source for it. See README.md.
# Outputs are cached outside the clone (OPENCT_CACHE, default ~/.cache/openct, under kfp/), keyed
# by the inputs' content: a rerun with nothing changed only prints the names.
# Per-step timings go to stderr and to <cache>/kfp/timings.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$(dirname "$here")
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}/kfp"

argo_version=v4.0.5  # also in argo/go.mod
argo_commit=0ab1452144d8f4d57c50b37ce50dad218868e950  # the proxy's .info Origin.Hash for v4.0.5
kfp_version=2.17.0

tool=kfp-images
key_label=org.openct.kfp-images.key
# shellcheck source=deploy/image-build.sh
. "$deploy/image-build.sh"

# module_dir MODULE_DIR MODULE: where the Go module cache holds MODULE (downloading it if needed)
module_dir() {
  (cd "$1" && "$go" mod download "$2" && "$go" list -m -f '{{.Dir}}' "$2")
}

argo_ldflags() {
  local p=github.com/argoproj/argo-workflows/v4
  echo "-s -w -X $p.version=$argo_version -X $p.buildDate=1970-01-01T00:00:00Z" \
    "-X $p.gitCommit=$argo_commit -X $p.gitTag=$argo_version -X $p.gitTreeState=clean"
}

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9

argo_src=$(module_dir "$here/argo" github.com/argoproj/argo-workflows/v4)
# The v4.0.5 module zip lacks workflow/executor/osspecific/signal_linux.go: in the repository it
# is a symlink to signal_darwin.go, and module zips drop symlinks, so argoexec does not compile for
# Linux from the zip ("undefined: Setpgid"). (A -overlay cannot add it: go refuses overlays of
# files beneath GOMODCACHE.) So argoexec is built in a Go workspace (made here, in the cache)
# whose replace points the module at a copy of the verified module directory with that one file
# added, with the content the symlink points to. argo/go.mod and go.sum still pin everything else.
argo_patched="$cache/src/argo-workflows-$argo_version-$(key_of "$here/argo")"
argo_work="$argo_patched.go.work"
patch_argo() {
  [ -f "$argo_patched/.done" ] && return 0
  rm -rf "$argo_patched" && mkdir -p "$(dirname "$argo_patched")"
  cp -r "$argo_src" "$argo_patched" && chmod -R u+w "$argo_patched"
  local d="$argo_patched/workflow/executor/osspecific"
  [ -e "$d/signal_linux.go" ] || cp "$d/signal_darwin.go" "$d/signal_linux.go"
  printf 'go %s\n\nuse %s\n\nreplace github.com/argoproj/argo-workflows/v4 v4.0.5 => %s\n' \
    "$(cd "$here/argo" && "$go" list -m -f '{{.GoVersion}}')" "$here/argo" "$argo_patched" >"$argo_work"
  touch "$argo_patched/.done"
}
step "argo $argo_version module copy (+ signal_linux.go)" patch_argo

# one output directory per program, so that each one's (cold) build time is measured on its own;
# the second shares the first's compiled dependencies through GOCACHE
argo_cmds=(workflow-controller argoexec)
declare -A argo_out
for c in "${argo_cmds[@]}"; do
  argo_out[$c]="$cache/bin/argo-$c-$argo_version-$(key_of "$here/argo" "$go_version" "$(argo_ldflags)")"
  if [ "$c" = argoexec ]; then
    argo_out[$c]="$cache/bin/argo-$c-$argo_version-$(key_of "$here/argo" "$go_version" "$(argo_ldflags)" "$argo_work" "signal_linux.go")"
  fi
  go_work=off; [ "$c" != argoexec ] || go_work=$argo_work
  step "go build argo $c $argo_version" \
    go_build "$here/argo" "${argo_out[$c]}" "$(argo_ldflags)" "github.com/argoproj/argo-workflows/v4/cmd/$c"
done
go_work=off

# ------------------------------------------------------------------------------- the images
docker info >/dev/null 2>&1 || die "no Docker engine answers (deploy/docker-engine.sh starts one)"
base=$(bash "$deploy/base-image.sh")
base_id=$(docker image inspect -f '{{.Id}}' "$base")

# dockerfile_image REF KEY DIR ENTRYPOINT_JSON [--build-arg ...] -- [FILE...]:
# docker build DIR (plus FILEs copied in, ENTRYPOINT appended) on our base
dockerfile_image() {
  local ref=$1 key=$2 dir=$3 entrypoint=$4 ctx args=()
  shift 4
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  [ "$(image_key "$ref")" = "$key" ] && return 0
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  cp -r "$dir/." "$ctx/"
  [ $# -eq 0 ] || cp "$@" "$ctx/"
  printf 'ENTRYPOINT %s\n' "$entrypoint" >>"$ctx/Dockerfile"
  docker build -q --build-arg BASE_IMAGE="$base" "${args[@]}" --label "org.openct.kfp-images.key=$key" \
    -t "$ref" "$ctx" 2>&1 >/dev/null | quiet_builder
  rm -rf "$ctx"
  [ "$(image_key "$ref")" = "$key" ] || die "docker build of $ref failed"
}

images=()
build_argo_images() {
  local c key user src=$argo_src
  for c in "${argo_cmds[@]}"; do
    # upstream: the controller runs as 8737, argoexec (the default, root image) as root
    user=""; [ "$c" = workflow-controller ] && user=8737
    key=$(key_of "${argo_out[$c]}/$c" "$here/images/argo" "$src/hack/nsswitch.conf" "$src/hack/ssh_known_hosts" "$base_id" "$user")
    dockerfile_image "quay.io/argoproj/$c:$argo_version" "$key" "$here/images/argo" "[\"/bin/$c\"]" \
      --build-arg "PROGRAM=$c" --build-arg "USER_ID=$user" -- \
      "${argo_out[$c]}/$c" "$src/hack/nsswitch.conf" "$src/hack/ssh_known_hosts"
    images+=("quay.io/argoproj/$c:$argo_version")
  done
}
step "argo images" build_argo_images

# KFP backend: only once kfp/go.mod exists (the module is not available from the proxy here)
if [ -f "$here/kfp/go.mod" ]; then
  # shellcheck source=/dev/null
  . "$here/kfp/build-kfp.sh"
else
  say "KFP $kfp_version backend skipped: no $here/kfp/go.mod (github.com/kubeflow/pipelines is not on the module proxy here)"
fi

flock -u 9
printf '%s\n' "${images[@]}"
