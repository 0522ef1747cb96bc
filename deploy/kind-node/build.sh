#!/usr/bin/env bash
# Build (once) a kind node image with Kubernetes, and every image a kind cluster needs preloaded,
# from package registries only; print the node image's name.
#
#   deploy/kind-node/build.sh       -> openct/kind-node:v1.32.13-<key>   (root, a Docker engine)
#   kind create cluster --image "$(deploy/kind-node/build.sh)" --config ...
#
# Why this exists: where no container registry is reachable, kind's node images (kindest/node,
# pinned in deploy/kind-cluster.yaml) and the images kubeadm deploys (registry.k8s.io/...) cannot
# be pulled. This builds them here instead:
#   - Kubernetes, etcd, CoreDNS and local-path-provisioner from the Go module proxy (the modules
#     next to this script pin every version and checksum), and our own pause;
#   - one image per component, tagged as kubeadm v1.32 asks for it (registry.k8s.io/...);
#   - the node image: Debian 13 (deploy/base-image.sh) + systemd, containerd, runc and CNI
#     plugins from Debian (node/Dockerfile), our entrypoint and units, the Kubernetes binaries,
#     kind's /kind/version and /kind/manifests (ours: manifests/), and all images above imported
#     into its containerd, as `kind build node-image` does.
# Outputs are cached outside the clone (OPENCT_CACHE, default ~/.cache/openct, under kind/),
# keyed by the inputs' content: a rerun with nothing changed only prints the name.
# Per-step timings go to stderr and to <cache>/kind/timings.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$(dirname "$here")
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}/kind"

k8s_version=v1.32.13  # also in kubernetes/go.mod
etcd_version=3.5.24   # etcd/go.mod; kubeadm v1.32 asks for registry.k8s.io/etcd:3.5.24-0
coredns_version=v1.11.3
pause_version=3.10
lpp_version=v0.0.30

tool=kind-node
key_label=org.openct.kind-node.key
# shellcheck source=deploy/image-build.sh
. "$deploy/image-build.sh"

k8s_ldflags() {
  local p flags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=32"
    flags+=" -X $p.gitCommit=$k8s_version -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubeadm kubectl kubelet)
k8s_out="$cache/bin/kubernetes-$k8s_version-$(key_of "$here/kubernetes" "$go_version" "$(k8s_ldflags)")"
etcd_out="$cache/bin/etcd-$etcd_version-$(key_of "$here/etcd" "$go_version")"
coredns_out="$cache/bin/coredns-$coredns_version-$(key_of "$here/coredns" "$go_version")"
lpp_out="$cache/bin/local-path-provisioner-$lpp_version-$(key_of "$here/local-path-provisioner" "$go_version")"
pause_out="$cache/bin/pause-$(key_of "$here/pause" "$go_version")"

mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9

step "go build kubernetes ($k8s_version: ${k8s_cmds[*]})" \
  go_build "$here/kubernetes" "$k8s_out" "$(k8s_ldflags)" "${k8s_cmds[@]/#/k8s.io/kubernetes/cmd/}"
step "go build etcd $etcd_version" go_build "$here/etcd" "$etcd_out" "-s -w" go.etcd.io/etcd/server/v3
[ -f "$etcd_out/etcd" ] || mv "$etcd_out/server" "$etcd_out/etcd"  # go names it after .../server/v3
step "go build coredns $coredns_version" go_build "$here/coredns" "$coredns_out" \
  "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$coredns_version" github.com/coredns/coredns
step "go build local-path-provisioner $lpp_version" go_build "$here/local-path-provisioner" "$lpp_out" \
  "-s -w -X main.VERSION=$lpp_version" github.com/rancher/local-path-provisioner
step "go build pause" go_build "$here/pause" "$pause_out" "-s -w" .

# ------------------------------------------------------------------------------- the images
docker info >/dev/null 2>&1 || die "no Docker engine answers (deploy/docker-engine.sh starts one)"
base=$(bash "$deploy/base-image.sh")
base_id=$(docker image inspect -f '{{.Id}}' "$base")

# static_image REF KEY ENTRYPOINT_JSON SRC:DEST...: a one-layer image of static binaries
static_image() {
  local ref=$1 key=$2 entrypoint=$3 ctx pair
  shift 3
  [ "$(image_key "$ref")" = "$key" ] && return 0
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  mkdir -p "$ctx/tmp" && chmod 1777 "$ctx/tmp"
  for pair in "$@"; do
    mkdir -p "$ctx/$(dirname "${pair#*:}")"
    cp "${pair%%:*}" "$ctx/${pair#*:}"
  done
  tar --numeric-owner --owner=0 --group=0 -C "$ctx" -c . |
    docker import --change "ENTRYPOINT $entrypoint" \
      --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      --change "LABEL org.openct.kind-node.key=$key" - "$ref" >/dev/null
  rm -rf "$ctx"
}

# dockerfile_image REF KEY DIR [FILE...]: docker build DIR (plus FILEs copied in) on our base
dockerfile_image() {
  local ref=$1 key=$2 dir=$3 ctx
  shift 3
  [ "$(image_key "$ref")" = "$key" ] && return 0
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  cp -r "$dir/." "$ctx/"
  [ $# -eq 0 ] || cp "$@" "$ctx/"
  docker build -q --build-arg BASE_IMAGE="$base" --label "org.openct.kind-node.key=$key" \
    -t "$ref" "$ctx" 2>&1 >/dev/null | quiet_builder
  rm -rf "$ctx"
}

reg=registry.k8s.io
images=()
# one_binary REF ENTRYPOINT BINARY DEST: an image of one static binary, keyed by the binary
one_binary() {
  static_image "$1" "$(key_of "$3")" "$2" "$3:$4"
  images+=("$1")
}

build_images() {
  local c key
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    one_binary "$reg/$c:$k8s_version" "[\"/usr/local/bin/$c\"]" "$k8s_out/$c" "usr/local/bin/$c"
  done
  key=$(key_of "$k8s_out/kube-proxy" "$here/images/kube-proxy" "$base_id")
  dockerfile_image "$reg/kube-proxy:$k8s_version" "$key" "$here/images/kube-proxy" "$k8s_out/kube-proxy"
  images+=("$reg/kube-proxy:$k8s_version")
  one_binary "$reg/etcd:$etcd_version-0" '["/usr/local/bin/etcd"]' "$etcd_out/etcd" usr/local/bin/etcd
  one_binary "$reg/coredns/coredns:$coredns_version" '["/coredns"]' "$coredns_out/coredns" coredns
  one_binary "$reg/pause:$pause_version" '["/pause"]' "$pause_out/pause" pause
  provisioner_image="openct/local-path-provisioner:$lpp_version-$(key_of "$lpp_out/local-path-provisioner")"
  one_binary "$provisioner_image" '["/usr/local/bin/local-path-provisioner"]' \
    "$lpp_out/local-path-provisioner" usr/local/bin/local-path-provisioner
  key=$(key_of "$here/images/cni" "$base_id")
  cni_image="openct/kind-cni:$key"
  dockerfile_image "$cni_image" "$key" "$here/images/cni"
  images+=("$cni_image")
  helper_image=$base  # local-path-provisioner's helper pods need only sh, mkdir and rm
  images+=("$helper_image")
}
step "component images" build_images

# ---------------------------------------------------------------------------- the node image
node_base_key=$(key_of "$here/node" "$deploy/runc-boundcaps" "$base_id")
node_base="openct/kind-node-base:$node_base_key"
node_base_image() {
  have_image "$node_base" && return 0
  local ctx
  ctx=$(mktemp -d "$cache/ctx.XXXXXX")
  cp -r "$here/node/." "$deploy/runc-boundcaps" "$ctx/"  # the wrapper is shared with docker-engine.sh
  docker build -q --build-arg BASE_IMAGE="$base" -t "$node_base" "$ctx" 2>&1 >/dev/null | quiet_builder
  rm -rf "$ctx"
}
step "node base image (Debian packages)" node_base_image

image_ids=$(for i in "${images[@]}"; do docker image inspect -f '{{.Id}}' "$i"; done)
node_key=$(key_of "$here/manifests" "$node_base" "$image_ids" "$k8s_out" "$(basename "${BASH_SOURCE[0]}")")
node_image="openct/kind-node:$k8s_version-$node_key"

cid=""
trap 'if [ -n "$cid" ]; then docker rm -f -v "$cid" >/dev/null 2>&1 || true; fi' EXIT
assemble_node() {
  local m missing
  cid=$(docker run -d --init --entrypoint sleep --security-opt seccomp=unconfined "$node_base" infinity)
  for m in kubeadm kubelet kubectl; do
    docker cp "$k8s_out/$m" "$cid:/usr/bin/$m"
  done
  docker exec "$cid" chown root:root /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl
  printf %s "$k8s_version" | docker exec -i "$cid" cp /dev/stdin /kind/version
  sed "s|@CNI_IMAGE@|$cni_image|" "$here/manifests/default-cni.yaml" |
    docker exec -i "$cid" cp /dev/stdin /kind/manifests/default-cni.yaml
  sed -e "s|@PROVISIONER_IMAGE@|$provisioner_image|" -e "s|@HELPER_IMAGE@|$helper_image|" \
    "$here/manifests/default-storage.yaml" | docker exec -i "$cid" cp /dev/stdin /kind/manifests/default-storage.yaml
  # preload: containerd in the build container, `docker save | ctr import` (as kind does)
  docker exec "$cid" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
  for _ in $(seq 30); do docker exec "$cid" ctr version >/dev/null 2>&1 && break; sleep 1; done
  docker save "${images[@]}" | docker exec -i "$cid" ctr --namespace=k8s.io images import \
    --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests - >/dev/null
  # everything kubeadm will ask for must be there now
  missing=$(docker exec "$cid" bash -c "comm -23 <(kubeadm config images list --kubernetes-version $k8s_version | sort) \
    <(ctr --namespace=k8s.io images list -q | sort)")
  [ -z "$missing" ] || die "images kubeadm needs are missing from the node: $missing"
  docker exec "$cid" bash -c 'pkill -x containerd; while pgrep -x containerd >/dev/null; do sleep 0.2; done
    rm -rf /tmp/* /run/containerd'
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' \
    --change "LABEL org.openct.kind-node.key=$node_key" \
    "$cid" "$node_image" >/dev/null
}
have_image "$node_image" || step "node image (binaries, manifests, preloaded images)" assemble_node

flock -u 9
echo "$node_image"
