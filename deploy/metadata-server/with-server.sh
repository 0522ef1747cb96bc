#!/usr/bin/env bash
# Run a command with an ML Metadata gRPC server (server.py) beside it, then stop the server.
#
#   deploy/metadata-server/with-server.sh CMD [ARGS...]
#   e.g. deploy/metadata-server/with-server.sh deploy/localenv.sh python -m pytest tests/test_metadata_server.py
#
# The server runs from deploy/metadata-server/env.sh's venv on a free 127.0.0.1 port, on a fresh SQLite
# file in a temporary directory (through upstream's --metadata_store_server_config_file), and CMD gets
# OPENCT_TEST_METADATA_SERVER=127.0.0.1:PORT once the server answers an RPC. Exit status: CMD's (1 if the
# server never answered). The temporary directory, with the database, is removed afterwards; the server's
# log goes to OPENCT_METADATA_SERVER_LOG when set (kept), else into that directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
say() { printf 'with-server: %s\n' "$*" >&2; }

"$here/env.sh" >/dev/null  # build the venv first (once), so the start-up wait below is the server's own
tmp=$(mktemp -d "${TMPDIR:-/tmp}/openct-mlmd.XXXXXX")
log="${OPENCT_METADATA_SERVER_LOG:-$tmp/server.log}"
pid=
alive() {  # running, not a zombie (from /proc/PID/stat: "PID (COMM) STATE ...")
  local s
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}
# shellcheck disable=SC2329  # run by the EXIT trap
stop_server() {
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$("$here/env.sh" python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/server.pbtxt" <<EOF
connection_config { sqlite { filename_uri: "$tmp/metadata.sqlite" connection_mode: READWRITE_OPENCREATE } }
EOF
"$here/env.sh" python "$here/server.py" --grpc_listen_host=127.0.0.1 --grpc_port="$port" \
  --metadata_source_config_type=config_file --metadata_store_server_config_file="$tmp/server.pbtxt" \
  >"$log" 2>&1 &
pid=$!

# Ready when one RPC succeeds; give up when the server process ends (a zombie counts) or after 60 s.
if ! "$here/env.sh" python - "$port" "$pid" <<'EOF'; then
import sys, time
from pathlib import Path

import grpc
from ml_metadata.proto import metadata_store_service_pb2 as service, metadata_store_service_pb2_grpc as stubs

port, pid = sys.argv[1], sys.argv[2]
stub = stubs.MetadataStoreServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
deadline = time.monotonic() + 60
while True:
    try:
        stub.GetContextTypes(service.GetContextTypesRequest(), timeout=2)
        sys.exit(0)
    except grpc.RpcError as e:
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            sys.exit("the server stopped")
        if time.monotonic() > deadline:
            sys.exit(f"no answer in 60 s: {e.code()}")
        time.sleep(0.2)
EOF
  say "the ML Metadata server did not come up; its log:"
  cat "$log" >&2
  exit 1
fi
say "ML Metadata server (pid $pid) on 127.0.0.1:$port, SQLite in $tmp"

export OPENCT_TEST_METADATA_SERVER="127.0.0.1:$port"
rc=0
"$@" || rc=$?
if ! alive; then
  say "the ML Metadata server had stopped before the command ended; its log:"
  tail -n 30 "$log" >&2
fi
exit "$rc"
