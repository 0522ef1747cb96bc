#!/usr/bin/env bash
# Make a Docker engine usable here; does nothing when one already answers `docker info`.
#
#   deploy/docker-engine.sh          (idempotent; root on Debian/Ubuntu when it has to start one)
#
# Why this script exists: the project's machines (Debian 12 VMs run as root, no systemd) have no
# engine, and their sandbox's capability bounding set lacks CAP_SYS_RESOURCE, so plain runc fails
# `docker run --privileged` (which kind needs) with "unable to apply caps: operation not
# permitted". So: install Debian's docker.io if dockerd is missing, and start dockerd in the
# background with a small runc wrapper as its default runtime. The wrapper removes from the OCI
# spec (config.json at create/run, the --process file at exec) every capability the bounding set
# lacks, then runs runc; where nothing is missing it changes nothing.
# State (wrapper, dockerd log) lives outside the clone: OPENCT_CACHE, default ~/.cache/openct.
set -euo pipefail

state="${OPENCT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openct}/docker"
log="$state/dockerd.log"
wrapper="$state/runc-boundcaps"
timeout="${OPENCT_DOCKER_TIMEOUT:-60}"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if docker info >/dev/null 2>&1; then say "an engine answers already"; exit 0; fi
[ "$(id -u)" = 0 ] || die "no engine answers 'docker info', and starting one needs root"

if ! command -v dockerd >/dev/null; then
  command -v apt-get >/dev/null || die "no dockerd and no apt-get: install Docker for this system"
  say "installing docker.io with apt-get"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi
runc=$(command -v runc) || die "no runc on PATH (it comes with docker.io)"
# The system Python, not a version manager's shim: the wrapper runs several times per container.
python=$(command -v /usr/bin/python3 python3 | head -n 1) || die "the runc wrapper needs python3"

mkdir -p "$state"
cat >"$wrapper.tmp" <<EOF
#!$python -IS
# Written by deploy/docker-engine.sh: runc without the capabilities the bounding set lacks.
import json, os, sys
NAMES = """CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE""".split()
bnd = int(next(l for l in open("/proc/self/status") if l.startswith("CapBnd:")).split()[1], 16)
lacking = {"CAP_" + n for i, n in enumerate(NAMES) if not bnd >> i & 1}

def strip(path, key):
    with open(path) as f:
        spec = json.load(f)
    caps = spec.get(key, {}).get("capabilities") if key else spec.get("capabilities")
    if lacking and caps:
        for k, v in caps.items():
            caps[k] = [c for c in v or [] if c not in lacking]
        with open(path, "w") as f:
            json.dump(spec, f)

args = sys.argv[1:]
def value(*flags):
    for i, a in enumerate(args):
        for fl in flags:
            if a == fl and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(fl + "="):
                return a[len(fl) + 1:]

i = 0  # the subcommand: skip runc's global options (--root DIR, --log FILE, --debug, ...)
while i < len(args) and args[i].startswith("-"):
    i += 1 if "=" in args[i] or args[i] in ("--debug", "--systemd-cgroup") else 2
cmd = args[i] if i < len(args) else ""
if cmd in ("create", "run"):
    strip(os.path.join(value("--bundle", "-b") or ".", "config.json"), "process")
elif cmd == "exec" and value("--process", "-p"):
    strip(value("--process", "-p"), None)
os.execv("$runc", ["$runc"] + args)
EOF
chmod 755 "$wrapper.tmp" && mv "$wrapper.tmp" "$wrapper"

say "starting dockerd (runtime $wrapper, log $log)"
setsid dockerd --add-runtime "openct-runc=$wrapper" --default-runtime openct-runc </dev/null >>"$log" 2>&1 &
for _ in $(seq "$timeout"); do
  if docker info >/dev/null 2>&1; then say "engine ready ($(docker version -f '{{.Server.Version}}'))"; exit 0; fi
  kill -0 $! 2>/dev/null || break
  sleep 1
done
tail -n 20 "$log" >&2
die "dockerd did not answer 'docker info' within ${timeout}s (log: $log)"
