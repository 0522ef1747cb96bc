#!/usr/bin/env bash
# Checks the tools a make target needs, and says what is missing and where to get it.
#   deploy/need.sh docker kind kubectl
set -euo pipefail

missing=0
say() { printf 'missing: %s\n' "$*" >&2; missing=1; }

version_at_least() {  # version_at_least HAVE WANT (dotted numbers)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

for tool in "$@"; do
  case "$tool" in
    docker)
      if ! command -v docker >/dev/null 2>&1; then
        say "docker (https://docs.docker.com/engine/install/)"
      elif ! docker info >/dev/null 2>&1; then
        say "a running Docker engine: 'docker info' fails (start Docker, or check your user is in the docker group)"
      fi ;;
    kind)
      if ! command -v kind >/dev/null 2>&1; then
        say "kind >= 0.31 (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
      else
        have=$(kind version | sed -E 's/^kind v([0-9.]+).*/\1/')
        version_at_least "$have" 0.31.0 || say "kind >= 0.31 (have $have): the pinned node image is built for it"
      fi ;;
    kubectl)
      if ! command -v kubectl >/dev/null 2>&1; then
        say "kubectl >= 1.30 with kustomize (https://kubernetes.io/docs/tasks/tools/)"
      else
        have=$(kubectl version --client -o json 2>/dev/null | sed -nE 's/.*"gitVersion": *"v([0-9.]+).*/\1/p' | head -n 1)
        version_at_least "${have:-0}" 1.30.0 || say "kubectl >= 1.30 (have ${have:-unknown})"
      fi ;;
    cluster)
      if ! kubectl cluster-info >/dev/null 2>&1; then
        say "a reachable cluster: 'kubectl cluster-info' fails (make cluster, or set KUBECONFIG)"
      fi ;;
    *) echo "need.sh: unknown tool $tool" >&2; exit 2 ;;
  esac
done
exit "$missing"
