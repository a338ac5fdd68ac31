#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks, from Debian's
# postgresql package (scripts/setup.sh installs it). Nothing needs to run
# beforehand and nothing outside DIR is touched.
#
#   pg_server.sh start DIR [--durable]   initdb + pg_ctl start on a free port;
#                                         writes the connection URL to DIR/url
#   pg_server.sh stop DIR                 fast shutdown (idempotent)
#
# PostgreSQL refuses to run as root, so as root (CI) the server runs as the
# unprivileged user `nobody`. Without --durable it runs with fsync off (tests
# check behaviour, not power loss); --durable keeps PostgreSQL's defaults
# (benchmarks of durable commits).
set -euo pipefail

cmd=${1:?usage: pg_server.sh start|stop DIR [--durable]}
dir=${2:?usage: pg_server.sh start|stop DIR [--durable]}
durable=${3:-}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "pg_server.sh: PostgreSQL server binaries not found (run scripts/setup.sh)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
  stop)
    stop
    ;;
  start)
    stop
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
      chown nobody: "$dir"
      # nobody must be able to reach DIR through its parents.
      p=$(dirname "$dir")
      while [ "$p" != "/" ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    opts="-c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=200"
    opts+=" -c shared_buffers=64MB"
    if [ "$durable" != "--durable" ]; then
      opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    for attempt in 1 2 3 4 5; do
      port=$(free_port)
      if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
           -o "-p $port $opts" start >/dev/null 2>&1; then
        echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
        exit 0
      fi
    done
    echo "pg_server.sh: PostgreSQL did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
    ;;
  *)
    echo "usage: pg_server.sh start|stop DIR [--durable]" >&2
    exit 2
    ;;
esac
