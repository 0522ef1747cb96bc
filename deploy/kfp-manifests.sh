#!/usr/bin/env bash
# Render a kustomize layer that builds on Kubeflow Pipelines 2.17.0's manifests, with or without
# github.com, into one YAML file.
#
#   deploy/kfp-manifests.sh LAYER OUT     LAYER: a directory under kustomize/ (kfp, kfp/cluster-scoped,
#                                         kfp-airgapped, ...); OUT: the rendered YAML
#   KFP_MANIFESTS=DIR                     KFP 2.17.0's manifests/kustomize directory (a local copy of
#                                         the release); unset: kustomize fetches it from github.com
#   ARGO_MANIFESTS=DIR                    argo-workflows v4.0.5's manifests/ directory; default: the
#                                         Go module cache's copy (deploy/kfp-images/argo pins it)
#
# Why this script exists: our layers name KFP's manifests remotely (github.com/kubeflow/pipelines/
# manifests/kustomize/...?ref=2.17.0) and KFP's own Argo layer names Argo's remotely
# (https://github.com/argoproj/argo-workflows/manifests/...?ref=v4.0.5, in five kustomizations
# under third-party/argo/). Where github.com is not reachable, both are rewritten to local copies:
# kustomize/ and KFP_MANIFESTS are copied under build/kfp-render/ (never edited in place), every
# remote reference becomes a relative path into the copies, and kustomize renders the copy of
# LAYER. Same layers, same patches, same output as the remote render of the same release.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
layer=${1:?usage: deploy/kfp-manifests.sh LAYER OUT}
out=${2:?usage: deploy/kfp-manifests.sh LAYER OUT}
kfp_ref='2.17.0'
argo_version='v4.0.5'  # KFP 2.17.0's third-party/argo; also deploy/kfp-images/argo/go.mod

say() { printf 'kfp-manifests: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

[ -f "$repo/kustomize/$layer/kustomization.yaml" ] || die "no kustomization at kustomize/$layer"
mkdir -p "$(dirname "$out")"

if [ -z "${KFP_MANIFESTS:-}" ]; then
  say "rendering kustomize/$layer (KFP's manifests from github.com; set KFP_MANIFESTS for a local copy)"
  kubectl kustomize "$repo/kustomize/$layer" >"$out.tmp" && mv "$out.tmp" "$out"
  exit 0
fi

kfp_dir=$(cd "$KFP_MANIFESTS" && pwd) || die "KFP_MANIFESTS=$KFP_MANIFESTS: no such directory"
[ -f "$kfp_dir/env/platform-agnostic/kustomization.yaml" ] ||
  die "KFP_MANIFESTS=$kfp_dir: not KFP's manifests/kustomize directory (no env/platform-agnostic)"
grep -q "appVersion: $kfp_ref\$" "$kfp_dir/base/installs/generic/pipeline-install-config.yaml" ||
  die "KFP_MANIFESTS=$kfp_dir: not release $kfp_ref (base/installs/generic/pipeline-install-config.yaml appVersion)"

if [ -z "${ARGO_MANIFESTS:-}" ]; then
  mod=github.com/argoproj/argo-workflows/v4
  argo_mod=$(cd "$repo/deploy/kfp-images/argo" && GOFLAGS=-mod=readonly go mod download "$mod" &&
    go list -m -f '{{.Dir}}' "$mod") || die "cannot find $mod $argo_version in the Go module cache; set ARGO_MANIFESTS"
  ARGO_MANIFESTS=$argo_mod/manifests
fi
argo_dir=$(cd "$ARGO_MANIFESTS" && pwd) || die "ARGO_MANIFESTS=$ARGO_MANIFESTS: no such directory"
[ -f "$argo_dir/base/workflow-controller/kustomization.yaml" ] ||
  die "ARGO_MANIFESTS=$argo_dir: not Argo Workflows' manifests directory"

work="$repo/build/kfp-render"
rm -rf "$work" && mkdir -p "$work"
cp -r "$repo/kustomize" "$work/kustomize"
cp -r "$kfp_dir" "$work/kfp-manifests"
cp -r "$argo_dir" "$work/argo-manifests"
chmod -R u+w "$work"  # the module cache's files are read-only

# relative path from directory $1 to directory $2
rel() { realpath --relative-to="$1" "$2"; }

# KFP's remote references inside our layers, then Argo's inside KFP's
while IFS= read -r -d '' k; do
  d=$(dirname "$k")
  sed -i -E "s#(^\s*-\s*)github\.com/kubeflow/pipelines/manifests/kustomize/([^?[:space:]]*)\?ref=${kfp_ref}[^[:space:]]*#\1$(rel "$d" "$work/kfp-manifests")/\2#" "$k"
done < <(find "$work/kustomize" -name kustomization.yaml -print0)
while IFS= read -r -d '' k; do
  d=$(dirname "$k")
  sed -i -E "s#(^\s*-\s*)https://github\.com/argoproj/argo-workflows/manifests/([^?[:space:]]*)\?ref=${argo_version}[^[:space:]]*#\1$(rel "$d" "$work/argo-manifests")/\2#" "$k"
done < <(find "$work/kfp-manifests/third-party/argo" -name kustomization.yaml -print0)
if left=$(grep -rnE '^\s*-\s*(https://)?github\.com/' --include=kustomization.yaml "$work/kustomize" "$work/kfp-manifests/third-party/argo"); then
  die "remote references left after rewriting (another release?):"$'\n'"$left"
fi

say "rendering kustomize/$layer from $kfp_dir and $argo_dir (copies under build/kfp-render)"
# The copies sit side by side under build/kfp-render: a layer reaches KFP's tree by a relative
# path outside its own root, which kustomize allows only without the load restrictor.
kubectl kustomize --load-restrictor LoadRestrictionsNone "$work/kustomize/$layer" >"$out.tmp"
mv "$out.tmp" "$out"
