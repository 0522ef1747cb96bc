#!/usr/bin/env bash
# Build (once) the container images the Kubeflow Pipelines 2.17.0 manifests run, from package
# registries only; print the image references built. Images of upstream's own programs are tagged
# exactly as those manifests ask; stand-ins for other programs carry our own names (openct/kfp-*),
# and a kustomize `images:` override points the manifests at them.
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
#   - Stand-ins for KFP's third-party images (images/<name>/, see README.md):
#     openct/kfp-mariadb:11.8 (Debian's mariadb-server, for mysql:8.4), openct/kfp-seaweedfs:4.53
#     (seaweedfs/: the weed command from the module proxy, for ghcr.io/chrislusf/seaweedfs:4.34,
#     a version the proxy does not serve), openct/kfp-shell:trixie (sh and netcat-openbsd, for
#     docker.io/alpine:3.23 in KFP's wait-for-* init containers), openct/kfp-grpcwebproxy:0.15.0
#     (grpcwebproxy/: improbable-eng's gRPC-web proxy from the module proxy, for the UI's
#     ML Metadata proxy ghcr.io/kubeflow/kfp-metadata-envoy:2.17.0, Envoy). Their Debian package versions
#     are the suite's at build time, recorded in the label org.openct.debian-packages.
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
# SeaweedFS: the release that seaweedfs/go.mod's pseudo-version is (weed/util/version/constants.go
# says 4.53; checked below), and the commit of that pseudo-version (upstream links its short hash
# into the version string). Release tags ("4.34") are not semver, so the proxy has only
# pseudo-versions; the one for 4.34 (v0.0.0-20260615054144-c6cf5a5bd7c8) it answers with 403.
seaweedfs_version=4.53
seaweedfs_commit=7506e5f91cd6
# MariaDB: the series of Debian 13's mariadb-server (1:11.8.x; checked after the build)
mariadb_series=11.8

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

grpcwebproxy_version=v0.15.0  # also in grpcwebproxy/go.mod
grpcwebproxy_out="$cache/bin/grpcwebproxy-$grpcwebproxy_version-$(key_of "$here/grpcwebproxy" "$go_version" "-s -w")"
step "go build grpcwebproxy $grpcwebproxy_version" \
  go_build "$here/grpcwebproxy" "$grpcwebproxy_out" "-s -w" github.com/improbable-eng/grpc-web/go/grpcwebproxy

seaweedfs_src=$(module_dir "$here/seaweedfs" github.com/seaweedfs/seaweedfs)
seaweedfs_constants="$seaweedfs_src/weed/util/version/constants.go"
if ! grep -q "MAJOR_VERSION *= int32(${seaweedfs_version%.*})" "$seaweedfs_constants" ||
  ! grep -q "MINOR_VERSION *= int32(${seaweedfs_version#*.})" "$seaweedfs_constants"; then
  die "seaweedfs/go.mod's module is not SeaweedFS $seaweedfs_version (see $seaweedfs_constants)"
fi
seaweedfs_ldflags="-s -w -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=$seaweedfs_commit"
seaweedfs_out="$cache/bin/seaweedfs-$seaweedfs_version-$(key_of "$here/seaweedfs" "$go_version" "$seaweedfs_ldflags")"
step "go build seaweedfs $seaweedfs_version (weed)" \
  go_build "$here/seaweedfs" "$seaweedfs_out" "$seaweedfs_ldflags" github.com/seaweedfs/seaweedfs/weed

# ------------------------------------------------------------------------------- the images
docker info >/dev/null 2>&1 || die "no Docker engine answers (deploy/docker-engine.sh starts one)"
base=$(bash "$deploy/base-image.sh")
base_id=$(docker image inspect -f '{{.Id}}' "$base")

# dockerfile_image REF KEY DIR ENTRYPOINT_JSON [--build-arg ...] -- [FILE...]:
# docker build DIR (plus FILEs copied in, ENTRYPOINT appended unless "": the Dockerfile's own) on
# our base
dockerfile_image() {
  local ref=$1 key=$2 dir=$3 entrypoint=$4 ctx args=()
  shift 4
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  [ "$(image_key "$ref")" = "$key" ] && return 0
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  cp -r "$dir/." "$ctx/"
  [ $# -eq 0 ] || cp "$@" "$ctx/"
  [ -z "$entrypoint" ] || printf 'ENTRYPOINT %s\n' "$entrypoint" >>"$ctx/Dockerfile"
  docker build -q --build-arg BASE_IMAGE="$base" "${args[@]}" --label "org.openct.kfp-images.key=$key" \
    -t "$ref" "$ctx" 2>&1 >/dev/null | quiet_builder
  rm -rf "$ctx"
  [ "$(image_key "$ref")" = "$key" ] || die "docker build of $ref failed"
}

# record_debian_packages REF PACKAGE...: label REF with the Debian versions of the PACKAGEs it
# holds (org.openct.debian-packages="name=version ..."): they are the suite's at build time, so
# the label says what a given build got. Once per image (a cached image keeps its label).
record_debian_packages() {
  local ref=$1 versions
  shift
  [ -z "$(docker image inspect -f '{{with index .Config.Labels "org.openct.debian-packages"}}{{.}}{{end}}' "$ref")" ] ||
    return 0
  # shellcheck disable=SC2016  # dpkg-query's format, not a shell expansion
  versions=$(docker run --rm --user 0 --entrypoint dpkg-query "$ref" -W -f '${Package}=${Version} ' "$@")
  printf 'FROM %s\nLABEL org.openct.debian-packages="%s"\n' "$ref" "${versions% }" |
    docker build -q -t "$ref" - 2>&1 >/dev/null | quiet_builder
}
debian_package_version() {  # IMAGE PACKAGE: the version the label records
  docker image inspect -f '{{index .Config.Labels "org.openct.debian-packages"}}' "$1" |
    tr ' ' '\n' | sed -n "s/^$2=//p"
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

build_mariadb_image() {
  local ref="openct/kfp-mariadb:$mariadb_series" version
  dockerfile_image "$ref" "$(key_of "$here/images/mariadb" "$base_id")" "$here/images/mariadb" ""
  record_debian_packages "$ref" mariadb-server mariadb-server-core mariadb-client
  version=$(debian_package_version "$ref" mariadb-server)
  case "$version" in
    1:"$mariadb_series".*) ;;
    *) die "$ref holds mariadb-server $version, not $mariadb_series.x: Debian's suite moved on; change mariadb_series" ;;
  esac
  images+=("$ref")
}
step "mariadb image (for mysql:8.4)" build_mariadb_image

build_seaweedfs_image() {
  local ref="openct/kfp-seaweedfs:$seaweedfs_version" toml="$seaweedfs_src/docker/filer.toml"
  dockerfile_image "$ref" "$(key_of "$seaweedfs_out/weed" "$here/images/seaweedfs" "$toml" "$base_id")" \
    "$here/images/seaweedfs" "" -- "$seaweedfs_out/weed" "$toml"
  record_debian_packages "$ref" wget ca-certificates
  images+=("$ref")
}
step "seaweedfs image (for ghcr.io/chrislusf/seaweedfs:4.34)" build_seaweedfs_image

build_shell_image() {
  local ref=openct/kfp-shell:trixie
  dockerfile_image "$ref" "$(key_of "$here/images/shell" "$base_id")" "$here/images/shell" ""
  record_debian_packages "$ref" netcat-openbsd dash coreutils
  images+=("$ref")
}
step "shell image (for docker.io/alpine:3.23)" build_shell_image

build_grpcwebproxy_image() {
  local ref="openct/kfp-grpcwebproxy:${grpcwebproxy_version#v}"
  dockerfile_image "$ref" "$(key_of "$grpcwebproxy_out/grpcwebproxy" "$here/images/grpcwebproxy" "$base_id")" \
    "$here/images/grpcwebproxy" "" -- "$grpcwebproxy_out/grpcwebproxy"
  images+=("$ref")
}
step "grpcwebproxy image (for ghcr.io/kubeflow/kfp-metadata-envoy:2.17.0)" build_grpcwebproxy_image

# KFP backend: only once kfp/go.mod exists (the module is not available from the proxy here)
if [ -f "$here/kfp/go.mod" ]; then
  # shellcheck source=/dev/null
  . "$here/kfp/build-kfp.sh"
else
  say "KFP $kfp_version backend skipped: no $here/kfp/go.mod (github.com/kubeflow/pipelines is not on the module proxy here)"
fi

flock -u 9
printf '%s\n' "${images[@]}"
