#!/usr/bin/env bash
# Create (or reuse) a kind cluster from our own node image and check it: nodes Ready, a pod
# from a locally built image scheduled and running, a PVC of the default StorageClass bound.
#
#   deploy/kind-node/smoke.sh [NAME]      (default NAME: openct-m2; root, a Docker engine, kind)
#
# Why this exists: milestone 2 of the cluster work ("a kind cluster from a node image built
# here"). It builds the node image (./build.sh), writes a copy of deploy/kind-cluster.yaml with
# that image and a scratch KIND_VOLUMES directory (OPENCT_KIND_VOLUMES, default
# <cache>/kind/volumes-NAME), creates the cluster, loads our Debian base image into it
# (`kind load docker-image`) and runs one pod on a PVC. The cluster is left running; delete it
# with `kind delete cluster --name NAME`. kubeconfig: <cache>/kind/kubeconfig-NAME.
set -euo pipefail

name=${1:-openct-m2}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy=$(dirname "$here")
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}/kind"
volumes=${OPENCT_KIND_VOLUMES:-$cache/volumes-$name}
export KUBECONFIG="$cache/kubeconfig-$name"

say() { printf 'smoke: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

kind=$(command -v kind || echo "$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin/kind")
[ -x "$kind" ] || die "no kind (go install sigs.k8s.io/kind@v0.31.0)"
command -v kubectl >/dev/null || die "no kubectl on PATH"

image=$(bash "$here/build.sh")
base=$(bash "$deploy/base-image.sh")
mkdir -p "$cache" "$volumes"

if ! "$kind" get clusters 2>/dev/null | grep -qx "$name"; then
  config="$cache/kind-$name.yaml"
  sed -e "s#^\(\s*image:\) kindest/node:.*#\1 $image#" -e "s#hostPath: KIND_VOLUMES#hostPath: $volumes#" \
    "$deploy/kind-cluster.yaml" >"$config"
  grep -q "image: $image" "$config" || die "could not set the node image in $config"
  t0=$SECONDS
  "$kind" create cluster --name "$name" --config "$config" --kubeconfig "$KUBECONFIG" --wait 5m
  say "cluster created in $((SECONDS - t0)) s"
else
  "$kind" get kubeconfig --name "$name" >"$KUBECONFIG"
fi

kubectl wait --for=condition=Ready nodes --all --timeout=300s
"$kind" load docker-image --name "$name" "$base"

ns=openct-smoke
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$ns" delete pod/smoke pvc/smoke --ignore-not-found --wait=true
kubectl -n "$ns" apply -f - <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: smoke
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: smoke
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: $base
      imagePullPolicy: Never
      command: [bash, -euc]
      args:
        - |
          getent hosts kubernetes.default.svc.cluster.local
          date -u >/data/stamp && echo "wrote /data/stamp: \$(cat /data/stamp)"
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: smoke}
EOF
kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Succeeded pod/smoke --timeout=180s ||
  { kubectl -n "$ns" describe pod/smoke >&2; die "the smoke pod did not succeed"; }
kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Bound pvc/smoke --timeout=60s
kubectl -n "$ns" logs pod/smoke
kubectl get nodes -o wide
kubectl -n "$ns" get pod,pvc -o wide
kubectl get pv
say "OK: nodes Ready, pod scheduled and run, PVC bound (KUBECONFIG=$KUBECONFIG)"
