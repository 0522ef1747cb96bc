#!/usr/bin/env bash
# Before applying manifests to the kind cluster: every image they name must be on the node or in
# the local Docker engine. Where a container registry is reachable (deploy/registry.sh), a missing
# image is pulled into the engine first. Images in the engine are loaded into the node (`kind
# load`); if any is in neither, print the list and exit 1 before anything is applied.
#
#   deploy/kind-images.sh CLUSTER RENDERED.yaml...     (CLUSTER: the kind cluster's name)
#   OPENCT_IMAGES_CHECK=list deploy/kind-images.sh ... print the images and where each one is
#
# Why: with no registry reachable (or a private one not yet filled), a missing image shows up only
# as a pod in ImagePullBackOff minutes into `kubectl wait`, one deployment at a time. The images a
# KFP run needs but no manifest lists as `image:` are included: the API server's V2_DRIVER_IMAGE
# and V2_LAUNCHER_IMAGE (every task's driver pod and launcher init container) and Argo's
# --executor-image (every task pod's init and wait containers).
set -euo pipefail

cluster=${1:?usage: deploy/kind-images.sh CLUSTER RENDERED.yaml...}
shift
[ $# -gt 0 ] || { echo "usage: deploy/kind-images.sh CLUSTER RENDERED.yaml..." >&2; exit 2; }

say() { printf 'kind-images: %s\n' "$*" >&2; }

images=$(
  for f in "$@"; do
    # `image: X` and `- image: X`; the env values of V2_DRIVER_IMAGE / V2_LAUNCHER_IMAGE;
    # `--executor-image` followed by its value on the next line, or `--executor-image=X`.
    awk '
      /^[[:space:]]*(- )?image:[[:space:]]/ { v = $0; sub(/.*image:[[:space:]]*/, "", v); print v }
      want_value && /value:/ { v = $0; sub(/.*value:[[:space:]]*/, "", v); print v; want_value = 0 }
      /name:[[:space:]]*V2_(DRIVER|LAUNCHER)_IMAGE/ { want_value = 1; next }
      want_exec { v = $0; sub(/^[[:space:]]*-[[:space:]]*/, "", v); print v; want_exec = 0 }
      /--executor-image=/ { v = $0; sub(/.*--executor-image=/, "", v); print v; next }
      /^[[:space:]]*-[[:space:]]*--executor-image[[:space:]]*$/ { want_exec = 1 }
    ' "$f"
  done | tr -d "\"'" | sort -u
)

node="$cluster-control-plane"
# The node's containerd holds images under normalized names (docker.io/library/mysql:8.4); our
# node image has no crictl, so ask containerd's own client, once.
node_images=$(docker exec "$node" ctr -n k8s.io images ls -q 2>/dev/null || true)
normalized() {
  local first=${1%%/*}
  if [ "$first" = "$1" ]; then echo "docker.io/library/$1"
  elif [[ $first == *.* || $first == *:* || $first == localhost ]]; then echo "$1"
  else echo "docker.io/$1"
  fi
}
on_node() { grep -qxF "$(normalized "$1")" <<<"$node_images"; }
in_engine() { docker image inspect "$1" >/dev/null 2>&1; }

can_pull=
[ "${OPENCT_IMAGES_CHECK:-}" = list ] || ! "$(dirname "${BASH_SOURCE[0]}")/registry.sh" || can_pull=yes
pulled() { [ -n "$can_pull" ] && say "pulling $1" && timeout 600 docker pull -q "$1" >/dev/null; }

missing=() load=()
for image in $images; do
  if on_node "$image"; then where=node
  elif in_engine "$image" || pulled "$image"; then where=engine; load+=("$image")
  else where=missing; missing+=("$image")
  fi
  [ "${OPENCT_IMAGES_CHECK:-}" = list ] && printf '%-8s %s\n' "$where" "$image"
done
[ "${OPENCT_IMAGES_CHECK:-}" = list ] && exit 0

if [ ${#missing[@]} -gt 0 ]; then
  say "ERROR: ${#missing[@]} image(s) named by the manifests are neither on the kind node '$node' nor in the local Docker engine; nothing was applied:"
  printf '  %s\n' "${missing[@]}" >&2
  say "pull them (docker pull IMAGE), or build them where no registry is reachable (docs/operations.md: Kubeflow Pipelines on kind)"
  exit 1
fi
for image in "${load[@]}"; do
  say "loading $image into kind cluster '$cluster'"
  kind load docker-image "$image" --name "$cluster" >/dev/null
done
say "all $(wc -w <<<"$images") image(s) present on the node"
