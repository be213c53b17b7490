#!/usr/bin/env bash
# Run a command beside a throwaway PostgreSQL server, then stop it and delete it.
#
#   scripts/with_postgres.sh .venv/bin/pytest -x
#
# The server lives in a temporary directory (initdb), listens on 127.0.0.1 on a free port,
# runs as the `postgres` OS user when we are root (initdb and pg_ctl refuse to run as root),
# and is stopped and removed on exit, whatever the command's outcome. The command sees the
# server's URL in HASHMARKET_TEST_PG_URL and gets this script's exit code from its own.
#
# Without PostgreSQL binaries the script installs them with apt-get when it can (root on
# Debian/Ubuntu). If the server still cannot be started, the command runs without the URL
# (PostgreSQL tests then skip), except under CI=true, where that is an error.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"

log() { echo "with_postgres: $*" >&2; }

find_pg_bin() {
    local dir
    for dir in "${PG_BIN:-}" "/usr/lib/postgresql/${PG_MAJOR}/bin" /usr/lib/postgresql/*/bin; do
        if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

install_pg() {
    # Only where we can do it without asking: root with apt-get.
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || return 1
    log "installing postgresql-${PG_MAJOR} with apt-get"
    # The Debian package would otherwise create and start a cluster we do not want.
    mkdir -p /etc/postgresql-common
    if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-${PG_MAJOR}" >&2 || return 1
}

unavailable() {
    if [[ "${CI:-}" == "true" ]]; then
        log "error: PostgreSQL cannot be started ($1) and CI=true"
        exit 1
    fi
    log "PostgreSQL cannot be started ($1); PostgreSQL tests will be skipped"
    unset HASHMARKET_TEST_PG_URL
    exec "$@"
}

if [[ $# -eq 0 ]]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

pg_bin="$(find_pg_bin || true)"
if [[ -z "$pg_bin" ]]; then
    install_pg || true
    pg_bin="$(find_pg_bin || true)"
fi
[[ -n "$pg_bin" ]] || unavailable "no initdb/pg_ctl found" "$@"

run_as=()
if [[ "$(id -u)" == 0 ]]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres ||
            unavailable "no postgres user to run the server as" "$@"
    fi
    runuser_bin="$(PATH="$PATH:/usr/sbin:/sbin" command -v runuser || true)"
    if [[ -n "$runuser_bin" ]]; then
        run_as=("$runuser_bin" -u postgres --)
    else
        run_as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/hashmarket-pg.XXXXXX")"
[[ ${#run_as[@]} -eq 0 ]] || chown postgres: "$tmp"
chmod 700 "$tmp"

stop_server() {
    if [[ -f "$tmp/data/postmaster.pid" ]]; then
        "${run_as[@]}" "$pg_bin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

if ! "${run_as[@]}" "$pg_bin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 \
    --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
    cat "$tmp/initdb.log" >&2
    stop_server
    trap - EXIT
    unavailable "initdb failed" "$@"
fi
if ! "${run_as[@]}" "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp -c max_connections=100" start >/dev/null; then
    cat "$tmp/server.log" >&2 || true
    stop_server
    trap - EXIT
    unavailable "the server did not start" "$@"
fi

export HASHMARKET_TEST_PG_URL="postgresql://postgres@127.0.0.1:${port}/postgres"
log "$("$pg_bin/pg_ctl" --version) at $HASHMARKET_TEST_PG_URL"
# Not exec: the EXIT trap must run after the command to stop and delete the server. The
# command runs in the background so that a TERM or INT sent to this script is forwarded to it
# at once (bash defers traps while a foreground child runs); stdin stays the terminal's.
"$@" <&0 &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' TERM
trap 'kill -INT "$child" 2>/dev/null || true' INT
status=0
while :; do
    wait "$child" && status=0 || status=$?
    # A trapped signal ends `wait` early; wait again until the command itself has ended.
    kill -0 "$child" 2>/dev/null || break
done
exit "$status"
