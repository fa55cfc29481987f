#!/usr/bin/env bash
# The cost of one event row in each store, as docs/scaling.md ("Store writes") quotes it:
#   - PostgreSQL 15 (Debian `postgresql`), started here with initdb in a temporary directory on
#     a loopback port (as the postgres user when run as root: PostgreSQL refuses root), default
#     settings; pgbench -M extended (PQexecParams' protocol, as PgStore) inserts 500 rows into the
#     `events` table of coordinator/src/pg_migrations.cpp per transaction, three ways: one
#     statement per round trip (as PgStore does today), the same pipelined, one 500-row INSERT;
#   - SQLite with the coordinator's pragmas (WAL, synchronous=NORMAL), 500 rows per transaction,
#     through Python's sqlite3 (an upper bound of the C++ cost).
# Prints one line per way: milliseconds per row. Usage: scripts/bench/store_rows.sh [SECONDS]
set -euo pipefail
seconds=${1:-10}
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/pgbench" ] || { echo "store_rows: needs Debian's postgresql (15)" >&2; exit 2; }
work=$(mktemp -d /tmp/flotilla-store-rows.XXXXXX)
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$work"
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
pg_pid=""
cleanup() {
  [ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
"${as_owner[@]}" "$bin/initdb" -D "$work/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bin/postgres" -D "$work/data" -p "$port" -k "$work" -c listen_addresses=127.0.0.1 \
  >"$work/postgres.log" 2>&1 &
pg_pid=$!
for _ in $(seq 100); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
"$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY, rollout_id TEXT NOT NULL, at_ms BIGINT NOT NULL, kind TEXT NOT NULL,
  agent_id TEXT NOT NULL, wave INTEGER NOT NULL, message TEXT NOT NULL, actor TEXT NOT NULL);
  CREATE INDEX events_rollout ON events(rollout_id, seq);"

python3 - "$work" <<'EOF'
import sys
work = sys.argv[1]
cols = "INSERT INTO events (rollout_id, at_ms, kind, agent_id, wave, message, actor) VALUES "
row = "('fleet-1', 1764567000000, 'host_phase', 'host-1', 0, 'accepted', 'coordinator')"
one = cols + row + " RETURNING seq;\n"
open(f"{work}/single.sql", "w").write("BEGIN;\n" + one * 500 + "COMMIT;\n")
open(f"{work}/pipeline.sql", "w").write("\\startpipeline\nBEGIN;\n" + one * 500 + "COMMIT;\n\\endpipeline\n")
open(f"{work}/multirow.sql", "w").write("BEGIN;\n" + cols + ",\n".join([row] * 500) + ";\nCOMMIT;\n")
EOF
for way in single pipeline multirow; do
  ms=$("$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M extended -c 1 -T "$seconds" -f "$work/$way.sql" \
    postgres 2>/dev/null | awk '/latency average/ {print $4}')
  python3 -c "import sys; print(f'postgresql {sys.argv[1]:9s} {float(sys.argv[2]) / 500:.3f} ms per row')" "$way" "$ms"
done

python3 - "$work/s.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE events ("
                 "seq INTEGER PRIMARY KEY AUTOINCREMENT, rollout_id TEXT NOT NULL, at_ms INTEGER NOT NULL,"
                 "kind TEXT NOT NULL, agent_id TEXT NOT NULL, wave INTEGER NOT NULL, message TEXT NOT NULL,"
                 "actor TEXT NOT NULL); CREATE INDEX events_rollout ON events(rollout_id, seq);")
row = ("fleet-1", 1764567000000, "host_phase", "host-1", 0, "accepted", "coordinator")
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(100):
    db.execute("BEGIN")
    for _ in range(500):
        db.execute("INSERT INTO events (rollout_id, at_ms, kind, agent_id, wave, message, actor) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
    db.execute("COMMIT")
n = 100 * 500
print(f"sqlite     single    {(time.perf_counter() - wall) / n * 1000:.4f} ms per row "
      f"({(time.process_time() - cpu) / n * 1000:.4f} ms CPU)")
EOF
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
