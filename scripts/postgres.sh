# A private PostgreSQL for tests and benchmarks, sourced by scripts/with-postgres and bench/run:
# a fresh cluster in a temp dir, listening on a free port of 127.0.0.1 only, trusted there for
# the user `jwtgate`. Never touches another server.
#   postgres_start [fast]   sets PG_URL (postgres://jwtgate@127.0.0.1:PORT/postgres) and PG_DIR;
#                           `fast` turns durability off (a test run's cluster dies with it)
#   postgres_stop           stops it and removes its directory

postgres_start() {
  local mode=${1:-durable} bin port extra=()
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL's server programs are missing (apt-get install postgresql)" >&2
    return 1
  fi
  PG_BIN=$bin
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/jwtgate-pg.XXXXXX")
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PG_AS_OWNER=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    chown postgres "$PG_DIR"
    PG_AS_OWNER=(runuser -u postgres --)
  fi
  "${PG_AS_OWNER[@]}" "$bin/initdb" -D "$PG_DIR/data" -U jwtgate --auth=trust -E UTF8 \
    --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  if [ "$mode" = fast ]; then
    extra=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  fi
  "${PG_AS_OWNER[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $PG_DIR -c max_connections=300 ${extra[*]}" start >/dev/null ||
    { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_URL="postgres://jwtgate@127.0.0.1:$port/postgres"
  PG_VERSION=$("$bin/postgres" --version)
}

postgres_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_AS_OWNER[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
