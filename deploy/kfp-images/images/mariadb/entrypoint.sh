#!/usr/bin/env bash
# Entrypoint of openct/kfp-mariadb (MariaDB standing in for mysql:8.4 in KFP 2.17.0's
# third-party/mysql/base/mysql-deployment.yaml). What the official mysql image's entrypoint does,
# for what that Deployment uses:
#   - arguments that start with "-" are the server's (`mariadbd ARGS`); another command runs as is;
#   - an empty data directory (a new PVC) is initialized: system tables, time zone tables, root
#     with MYSQL_ROOT_PASSWORD or, when MYSQL_ALLOW_EMPTY_PASSWORD is set (any value), an empty
#     password, for root@localhost and root@MYSQL_ROOT_HOST (default %: any host, so KFP's pods
#     connect as root without a password, as its mysql-secret says), then MYSQL_DATABASE and
#     MYSQL_USER/MYSQL_PASSWORD if set; a temporary server without networking does this, so the
#     port opens only once the real server runs (KFP's wait-for-database init containers wait on it);
#   - MySQL-only arguments of that Deployment are dropped (below).
# Not done: /docker-entrypoint-initdb.d scripts, MYSQL_RANDOM_ROOT_PASSWORD, *_FILE variables,
# switching from root to the mysql user (the image runs as 999, as the Deployment does).
set -euo pipefail

log() { printf '%s [Entrypoint]: %s\n' "$(date -u '+%F %T')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "${1:-}" = "" ] || [ "${1:0:1}" = - ]; then
  set -- mariadbd "$@"
fi
case "$1" in
  mariadbd | mysqld) shift ;;
  *) exec "$@" ;;
esac

# MySQL 8.4 options that the Deployment passes and MariaDB does not know: mariadbd would refuse
# to start ("unknown variable"). Both are about the mysql_native_password authentication plugin,
# which MariaDB already has as it is asked for there, so they are dropped rather than translated:
#   --authentication-policy=mysql_native_password: MySQL's plugin for accounts created without
#     one. MariaDB has no such variable; its default for an account created with a password
#     (root below) is mysql_native_password.
#   --mysql-native-password=ON: turns on MySQL 8.4's plugin of that name, off by default there.
#     In MariaDB it is built in and always on.
# Both forms, --option=value and --option value, are dropped. Everything else goes to mariadbd,
# --disable-log-bin included (MariaDB reads "disable-" as "skip-"; its binary log is off anyway).
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --authentication[-_]policy=* | --mysql[-_]native[-_]password=*)
      log "dropped MySQL-only option $1 (see entrypoint.sh)"
      shift
      ;;
    --authentication[-_]policy | --mysql[-_]native[-_]password)
      if [ $# -gt 1 ] && [ "${2:0:1}" != - ]; then
        log "dropped MySQL-only option $1 $2 (see entrypoint.sh)"
        shift 2
      else
        log "dropped MySQL-only option $1 (see entrypoint.sh)"
        shift
      fi
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done
set -- "${args[@]}"

# The server's own view of its options (config files and arguments), as the official image
# reads it; a bad argument fails here, with the server's message.
help=$(mariadbd "$@" --verbose --help 2>&1) || die "mariadbd does not accept $*: $help"
datadir=$(awk '$1 == "datadir" { print $2; exit }' <<<"$help")
[ -n "$datadir" ] || die "no datadir in mariadbd --verbose --help"

# sql_quote TEXT: TEXT as the body of a single-quoted SQL string
sql_quote() {
  local s=${1//\\/\\\\}
  printf '%s' "${s//\'/\\\'}"
}

initialize() {
  [ -n "${MYSQL_ROOT_PASSWORD:-}${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] ||
    die "$datadir is not initialized and no root password option is set: set MYSQL_ROOT_PASSWORD, or MYSQL_ALLOW_EMPTY_PASSWORD for an empty one"
  log "initializing $datadir"
  # config files give the rest (mariadb-install-db reads them); the Deployment's arguments only
  # name the data directory
  mariadb-install-db --datadir="$datadir" --rpm --auth-root-authentication-method=normal \
    --skip-test-db --skip-log-bin --default-time-zone=SYSTEM >/dev/null

  local tmp sock pid i pw host
  tmp=$(mktemp -d)
  sock="$tmp/mysqld.sock"
  mariadbd "$@" --skip-networking --socket="$sock" --pid-file="$tmp/mysqld.pid" --skip-log-bin \
    --default-time-zone=SYSTEM &
  pid=$!
  sql() { mariadb --protocol=socket --socket="$sock" --skip-ssl --user=root --database=mysql "$@"; }
  for i in $(seq 60); do
    sql --execute='SELECT 1' >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "the temporary server stopped"
    [ "$i" -lt 60 ] || die "the temporary server did not answer in 60 s"
    sleep 1
  done

  if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-}" ]; then
    # zone files that are not time zones (leap-seconds.list, ...) are skipped with a warning
    mariadb-tzinfo-to-sql /usr/share/zoneinfo 2>/dev/null | sql
  fi

  pw=$(sql_quote "${MYSQL_ROOT_PASSWORD:-}")
  host=$(sql_quote "${MYSQL_ROOT_HOST:-%}")
  {
    echo "SET @@SESSION.SQL_LOG_BIN = 0;"
    # mariadb-install-db's other accounts (root and the installing user at this host's names)
    echo "DELETE FROM mysql.global_priv WHERE user NOT IN ('mariadb.sys', 'root') OR host <> 'localhost';"
    echo "DELETE FROM mysql.proxies_priv WHERE host <> 'localhost';"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
    if [ "$host" != localhost ]; then
      echo "CREATE USER 'root'@'$host' IDENTIFIED BY '$pw';"
      echo "GRANT ALL ON *.* TO 'root'@'$host' WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'%' TO 'root'@'$host' WITH GRANT OPTION;"
    fi
    if [ -n "${MYSQL_DATABASE:-}" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
    fi
    if [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
      echo "CREATE USER '$(sql_quote "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_quote "$MYSQL_PASSWORD")';"
      if [ -n "${MYSQL_DATABASE:-}" ]; then
        echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO '$(sql_quote "$MYSQL_USER")'@'%';"
      fi
    fi
  } | sql

  kill -TERM "$pid"
  wait "$pid" || die "the temporary server did not stop cleanly"
  rm -rf "$tmp"
  log "$datadir initialized; starting the server"
}

if [ ! -d "$datadir/mysql" ]; then
  initialize "$@"
fi
exec mariadbd "$@"
