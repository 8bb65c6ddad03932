#!/usr/bin/env bash
# A PostgreSQL server for newsdesk's tests, benchmarks and trials, on 127.0.0.1 only.
#
#   scripts/postgres.sh start    install Debian's postgresql if missing (as root), create a
#                                cluster owned by a non-root user, start it in the background;
#                                prints the store URL as the last line (idempotent)
#   scripts/postgres.sh stop     stop it (the data stays for the next start)
#   scripts/postgres.sh status   print the URL and exit 0 if it runs, exit 3 if not
#
# The cluster lives outside the repository, in NEWSDESK_PG_DIR (default
# /tmp/newsdesk-postgres/<checkout hash>), so each checkout gets its own server on a free
# port and `make postgres-stop` in one checkout never stops another's. Authentication is
# `trust` and the server listens on 127.0.0.1 only: it is for one machine's tests, not for
# production (there, use your own server and put its URL in store_url).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
checkout_hash="$(printf '%s' "$here" | cksum | cut -d' ' -f1)"
PG_DIR="${NEWSDESK_PG_DIR:-/tmp/newsdesk-postgres/$checkout_hash}"
DATA="$PG_DIR/data"
PG_USER="newsdesk"
PG_DB="newsdesk"

say() { echo "postgres: $*" >&2; }

bin_dir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ]; then
        echo "$found"
    fi
}

install_postgres() {
    if [ -n "$(bin_dir)" ]; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "PostgreSQL is not installed; run: sudo apt-get install postgresql"
        exit 1
    fi
    say "installing Debian's postgresql (apt-get)"
    apt-get update -qq >&2
    # The package's own cluster is not used (ours is created below); keep it from starting.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    if [ -z "$(bin_dir)" ]; then
        say "apt-get installed postgresql but no server binaries are in /usr/lib/postgresql"
        exit 1
    fi
}

# The server refuses to run as root: as root, run it as Debian's `postgres` user.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
        fi
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_in_use() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
# As the server binds (connections of a stopped server in TIME_WAIT do not count).
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

running() {
    local bin="$1"
    [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

url() {
    echo "postgresql://$PG_USER@127.0.0.1:$(cat "$PG_DIR/port")/$PG_DB"
}

start() {
    install_postgres
    local bin
    bin="$(bin_dir)"
    mkdir -p "$PG_DIR"
    chmod 755 "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        as_owner true  # creates the postgres user if the package did not
        chown postgres: "$PG_DIR"
    fi
    if running "$bin"; then
        say "already running ($DATA)"
        url
        return
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        say "creating a cluster in $DATA"
        rm -rf "$DATA"
        as_owner "$bin/initdb" -D "$DATA" -U "$PG_USER" -A trust -E UTF8 --locale=C.UTF-8 \
            >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    fi
    local port
    port="$(cat "$PG_DIR/port" 2>/dev/null || true)"
    if [ -z "$port" ] || port_in_use "$port"; then
        port="$(free_port)"
    fi
    as_owner sh -c "echo $port > '$PG_DIR/port'"
    # Sockets in the data folder (Debian's /var/run/postgresql may not be writable);
    # enough connections for several workers, servers and the tests' pools.
    if ! as_owner "$bin/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 120 start \
        -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$DATA' -c max_connections=200" \
        >/dev/null 9>&-; then
        tail -n 30 "$PG_DIR/server.log" >&2 || true
        exit 1
    fi
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U "$PG_USER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER" "$PG_DB"
    fi
    say "started on 127.0.0.1:$port (data in $DATA, log $PG_DIR/server.log)"
    url
}

stop() {
    local bin
    bin="$(bin_dir)"
    if [ -z "$bin" ] || ! running "$bin"; then
        say "not running"
        return
    fi
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    say "stopped"
}

status() {
    local bin
    bin="$(bin_dir)"
    if [ -n "$bin" ] && running "$bin"; then
        url
    else
        say "not running"
        exit 3
    fi
}

# One start or stop at a time per cluster folder (make -j, two test runs); the server
# itself must not inherit the lock (fd 9 is closed for pg_ctl).
mkdir -p "$(dirname "$PG_DIR")"
exec 9>"$PG_DIR.lock"
flock 9

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) say "usage: $0 start|stop|status"; exit 2 ;;
esac
