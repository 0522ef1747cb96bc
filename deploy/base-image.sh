#!/usr/bin/env bash
# Build (once) a Debian base image from a debootstrapped rootfs and print its reference.
#
#   deploy/base-image.sh [SUITE]  -> openct/debian:SUITE-<key>   (root, a running Docker engine)
#                                    SUITE: trixie (Debian 13, the default) or bookworm (Debian 12:
#                                    Python 3.11, which deploy/metadata-server's ml-metadata needs)
#   docker build -f deploy/Dockerfile --build-arg BASE_IMAGE="$(deploy/base-image.sh)" ...
#
# Why this script exists: where no container registry is reachable, deploy/Dockerfile's pinned
# debian:trixie-slim cannot be pulled. This makes a stand-in the way deploy/localenv.sh makes its
# userland (`debootstrap --variant=minbase trixie`, debootstrap's default mirror), slimmed like
# the official image (no docs, man pages or locales, also for packages installed later; empty
# apt lists), with the host's own CAs (below), and `docker import`s it. The tag's key hashes the
# suite, the package list, those CAs and this script: a change makes a new image, else it is reused.
set -euo pipefail

suite=${1:-trixie}
case "$suite" in trixie | bookworm) ;; *) echo "base-image: SUITE must be trixie or bookworm (got '$suite')" >&2; exit 2 ;; esac
mirror="${OPENCT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
debs=""  # extra Debian packages (comma-separated); empty: minbase, like debian:trixie-slim
cache="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}"

say() { printf 'base-image: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

host_cas() {
  # The host bundle's certificates that no CA package file holds (e.g. a TLS-inspecting proxy's
  # CA): put where update-ca-certificates finds them, so that pip inside `docker build` trusts
  # what the host trusts (deploy/localenv.sh copies the whole bundle for the same reason).
  [ -r /etc/ssl/certs/ca-certificates.crt ] && command -v python3 >/dev/null || return 0
  python3 - <<'EOF'
import glob, re
pem = lambda t: re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", t, re.S)
norm = lambda c: "".join(c.split())
known = {norm(c) for f in glob.glob("/usr/share/ca-certificates/**/*.crt", recursive=True)
         for c in pem(open(f).read())}
print("\n".join(c for c in pem(open("/etc/ssl/certs/ca-certificates.crt").read()) if norm(c) not in known))
EOF
}
cas=$(host_cas)
key=$(cat "${BASH_SOURCE[0]}" - <<<"$suite $debs $cas" | sha256sum | cut -c1-12)
image="openct/debian:$suite-$key"

have_image() { docker image inspect "$image" >/dev/null 2>&1; }

slim() {
  # $1: rootfs. As debuerreotype slims the official images; the dpkg filter covers later installs.
  cat >"$1/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  find "$1/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$1/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$1"/usr/share/{groff,info,linda,lintian/overrides,man}/*
  find "$1/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  # apt: the full suite with updates and security (as the official image), no caches kept.
  rm -f "$1/etc/apt/sources.list"
  cat >"$1/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$1/etc/apt/apt.conf.d/docker-clean"
  echo 'Acquire::Languages "none";' >"$1/etc/apt/apt.conf.d/docker-no-languages"
  if [ -n "$cas" ]; then
    mkdir -p "$1/usr/local/share/ca-certificates"
    printf '%s\n' "$cas" >"$1/usr/local/share/ca-certificates/openct-host.crt"
  fi
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/* "$1"/tmp/* "$1"/var/tmp/*
  : >"$1/etc/machine-id"
}

build() {
  local root="$cache/base-image-$key.tmp"
  rm -rf "$root"
  say "debootstrap --variant=minbase $suite (about 1 minute, once per key)"
  debootstrap --variant=minbase ${debs:+--include="$debs"} "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; die "debootstrap failed (full log: $root.log)"; }
  slim "$root"
  tar --numeric-owner -C "$root" -c . |
    docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' --message "debootstrap --variant=minbase $suite $mirror" - "$image" >/dev/null
  rm -rf "$root" "$root.log"
}

if ! have_image; then
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (deploy/docker-engine.sh starts one)"
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  mkdir -p "$cache"
  exec 9>"$cache/base-image.lock"
  flock 9
  have_image || build
  flock -u 9
fi
echo "$image"
