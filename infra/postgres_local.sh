#!/usr/bin/env bash
# A PostgreSQL server for MLflow's backend store, from the distribution's packages
# (Debian/Ubuntu: apt-get install postgresql). It listens on 127.0.0.1 only.
#
#   infra/postgres_local.sh start DATADIR [PORT]   # initdb on first use; prints the backend URI
#   infra/postgres_local.sh stop DATADIR
#
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
# (DATADIR is chowned to it). Authentication: trust on 127.0.0.1 unless MLFLOW_DB_PASSWORD
# is set at the first start, then scram-sha-256 with that password for user mlflow
# (clients then need PGPASSWORD, which libpq and so MLflow's psycopg2 read).
set -euo pipefail
cmd=${1:?usage: $0 start|stop DATADIR [PORT]}
data=${2:?usage: $0 start|stop DATADIR [PORT]}
port=${3:-5432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ]; then
  bin=$(dirname "$(command -v pg_ctl || { echo "postgres_local.sh: PostgreSQL is not installed" >&2; exit 3; })")
fi

as_db() {  # run a server binary as the data directory's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    mkdir -p "$data"
    data=$(cd "$data" && pwd)
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$data" && chmod 700 "$data"
      runuser -u postgres -- test -x "$data" || {
        echo "postgres_local.sh: user postgres cannot reach $data; make its parent folders traversable (chmod o+x)" >&2
        exit 3; }
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
      if [ -n "${MLFLOW_DB_PASSWORD:-}" ]; then
        pwfile=$(mktemp); printf '%s\n' "$MLFLOW_DB_PASSWORD" > "$pwfile"
        [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
        as_db "$bin/initdb" -D "$data" -U mlflow --auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 >/dev/null
        rm -f "$pwfile"
      else
        as_db "$bin/initdb" -D "$data" -U mlflow --auth=trust -E UTF8 >/dev/null
      fi
    fi
    # the socket lives in DATADIR: no need for /var/run/postgresql
    if ! as_db "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then  # already running: leave it
      as_db "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $data" start >/dev/null
    fi
    if ! PGPASSWORD="${MLFLOW_DB_PASSWORD:-}" "$bin/psql" -h 127.0.0.1 -p "$port" -U mlflow -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1; then
      PGPASSWORD="${MLFLOW_DB_PASSWORD:-}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U mlflow mlflow
    fi
    # psycopg2 (the cluster extra): SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql://.
    # No password in the URI: libpq reads it from PGPASSWORD
    echo "postgresql+psycopg2://mlflow@127.0.0.1:$port/mlflow"
    ;;
  stop)
    as_db "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    ;;
  *)
    echo "usage: $0 start|stop DATADIR [PORT]" >&2; exit 2 ;;
esac
