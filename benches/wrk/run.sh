#!/usr/bin/env bash
# A quick side run of one read workload against a release server on a copy of a seeded SQLite
# file, with wrk on the same machine (the numbers of BENCHMARKS.md's 2026-12-06 section).
#
#   DATABASE_URL="sqlite:///tmp/scale.db?mode=rwc" target/release/securescore seed-scale --tokens-file /tmp/token
#   benches/wrk/run.sh target/release/securescore /tmp/scale.db /tmp/token q1 [SECONDS]
#
# WORKLOAD: q1 (the overview, after a 2 s warm-up) or q3 (90 days of trends). N=10000 for a data
# set seeded with --tenants 10000. Other variables pass through to the server (STATE_CACHE_MIB=0
# makes every request a miss of the process cache). Prints wrk's RESULT line, the server's peak
# RSS and the load average.
set -euo pipefail
BIN=$(realpath "$1"); DB=$(realpath "$2"); TOKEN=$(realpath "$3"); WL=$4; DUR=${5:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'kill "$SPID" 2>/dev/null || true; rm -rf "$W"' EXIT
cp "$DB" "$W/scale.db"
for x in wal shm; do [ -f "$DB-$x" ] && cp "$DB-$x" "$W/scale.db-$x"; done
PORT=$((20000 + RANDOM % 10000))
DATABASE_URL="sqlite://$W/scale.db" LISTEN_ADDR=127.0.0.1:$PORT SEED_DEMO=false LOG_FILTER=warn \
  RATE_LIMIT_PER_MINUTE=1000000000 RATE_LIMIT_BURST=1000000000 "$BIN" serve > "$W/server.log" 2>&1 &
SPID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/graphql
FROM=$(date -u -d '-89 days' +%F); TO=$(date -u +%F)
cd "$HERE"
case $WL in
  q1) wrk -t2 -c32 -d2s -s ss.lua "$URL" -- "${N:-1000}" ss_q1.graphql "$TOKEN" > /dev/null
      wrk -t2 -c32 -d"${DUR}s" --latency -s ss.lua "$URL" -- "${N:-1000}" ss_q1.graphql "$TOKEN" | grep -E "RESULT|FIRST" ;;
  q3) wrk -t2 -c32 -d2s -s ss.lua "$URL" -- "${N:-1000}" ss_q3.graphql "$TOKEN" q3 "$FROM" "$TO" > /dev/null
      wrk -t2 -c32 -d"${DUR}s" --latency -s ss.lua "$URL" -- "${N:-1000}" ss_q3.graphql "$TOKEN" q3 "$FROM" "$TO" | grep -E "RESULT|FIRST" ;;
  *) echo "unknown workload $WL (q1 or q3)" >&2; exit 2 ;;
esac
echo "peak RSS: $(grep VmHWM /proc/$SPID/status)"
echo "load average: $(cat /proc/loadavg)"
