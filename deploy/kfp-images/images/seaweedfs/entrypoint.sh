#!/bin/sh
# Entrypoint of openct/kfp-seaweedfs. What upstream's docker/entrypoint.sh (SeaweedFS 4.34, the
# same for these commands in the module's version) does for the commands this image is run with:
#   server ARGS  ->  weed -logtostderr=true server -dir=/data -volume.max=0
#                    -master.volumeSizeLimitMB=1024 ARGS   (-volume.max=0 only if ARGS have no
#                    -volume.max; KFP's Deployment runs `server -dir=/data -s3 -iam -filer
#                    -master.volumePreallocate=false`)
#   mini ARGS    ->  weed -logtostderr=true mini -dir=/data ARGS   (no -dir=/data if ARGS have
#                    -dir; the image's default command)
#   anything else -> weed ARGS
# and, as upstream, FIPS 140-3 mode on (GODEBUG fips140=on) unless GODEBUG sets fips140.
# One addition: `server` also gets -master.telemetry=false unless ARGS set -master.telemetry.
# SeaweedFS 4.34 reported nothing by default; later versions (this one) report anonymous cluster
# statistics to telemetry.seaweedfs.com unless told not to, which a cluster without internet
# access cannot reach and a stand-in for 4.34 should not start doing.
# Not done: upstream's switch from root to the seaweed user (chown of /data, su-exec): this image
# runs as seaweed (1000) from the start.
set -e

case ",${GODEBUG:-}," in
  *,fips140=*) ;;
  *) export GODEBUG="${GODEBUG:+$GODEBUG,}fips140=on" ;;
esac

# has_flag NAME ARGS...: whether ARGS set the flag -NAME (or --NAME), with or without =value
has_flag() {
  name=$1
  shift
  for a in "$@"; do
    case "$a" in
      -"$name" | --"$name" | -"$name"=* | --"$name"=*) return 0 ;;
    esac
  done
  return 1
}

case "${1:-}" in
  server)
    shift
    if has_flag master.telemetry "$@"; then :; else set -- -master.telemetry=false "$@"; fi
    if has_flag volume.max "$@"; then :; else set -- -volume.max=0 "$@"; fi
    exec /usr/bin/weed -logtostderr=true server -dir=/data -master.volumeSizeLimitMB=1024 "$@"
    ;;
  mini)
    shift
    if has_flag dir "$@"; then :; else set -- -dir=/data "$@"; fi
    exec /usr/bin/weed -logtostderr=true mini "$@"
    ;;
  *)
    exec /usr/bin/weed "$@"
    ;;
esac
