#!/usr/bin/env bash
# securescore next to the PostGraphile 4 peer on the same "overview" work, in ONE run, interleaved:
# the same wrk (-t2 -c32 -d10s --latency, a random tenant per request, the Lua approach of
# overview.lua), the same machine state.  Then securescore's own workloads (Q1/Q2/Q3/M1 of
# BENCHMARKS.md), peak RSS per workload, cold start, and Q1 at 10,000 vs 1,000 tenants.
#
#   peer            private PostgreSQL 15 + PostGraphile 4.14.1, 1,000 tenants x 250 controls, as run.sh
#   ss-sqlite       securescore on SQLite, `seed-scale` 1,000 tenants x 250 controls x 90 days
#   ss-pg           securescore on its own database of the system PostgreSQL (127.0.0.1:5432), same seed
#
# usage: bash side_by_side.sh
#   env: W=${TMPDIR:-/tmp}/securescore-peers/run (scratch)  NODE_DIR=${TMPDIR:-/tmp}/securescore-peers/peer (postgraphile@4.14.1 installed here if missing)
#        SECURESCORE=target/release/securescore (relative to the directory you run it from; build it first)  PEER_PGPORT=55432 PEER_PORT=5099
#        PORT_BASE=18600 (securescore: +0 sqlite, +1 pg, +2 1k/7d, +3 10k/7d, +4 cold starts)
#        SYS_PG=postgres://postgres@127.0.0.1:5432  RUNS=3  DURATION=10s  WARMUP=5s
#        WL_RUNS=3  WL_WARMUP=3s  SCALE_TENANTS=10000  COLD_RUNS=3
# Stops everything it started on exit (trap), drops the PostgreSQL database it created.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="${W:-${TMPDIR:-/tmp}/securescore-peers/run}"
NODE_DIR="${NODE_DIR:-${TMPDIR:-/tmp}/securescore-peers/peer}"
SECURESCORE="${SECURESCORE:-$PWD/target/release/securescore}"
PGBIN="${PGBIN:-/usr/lib/postgresql/15/bin}"
PEER_PGPORT="${PEER_PGPORT:-55432}"
PEER_PORT="${PEER_PORT:-5099}"
PORT_BASE="${PORT_BASE:-18600}"
SYS_PG="${SYS_PG:-postgres://postgres@127.0.0.1:5432}"
RUNS="${RUNS:-3}"; DURATION="${DURATION:-10s}"; WARMUP="${WARMUP:-5s}"
WL_RUNS="${WL_RUNS:-3}"; WL_WARMUP="${WL_WARMUP:-3s}"
SCALE_TENANTS="${SCALE_TENANTS:-10000}"; COLD_RUNS="${COLD_RUNS:-3}"
TENANTS=1000
PEER="$W/peer"
PEER_URL="http://127.0.0.1:$PEER_PORT/graphql"
P_SQLITE=$PORT_BASE; P_PG=$((PORT_BASE + 1)); P_1K=$((PORT_BASE + 2)); P_10K=$((PORT_BASE + 3)); P_COLD=$((PORT_BASE + 4))
SS_DB="sbs_securescore_$$"
HZ=$(getconf CLK_TCK); NCPU=$(nproc)
psql_peer() { psql -X -h 127.0.0.1 -p "$PEER_PGPORT" -U postgres "$@"; }
psql_sys() { psql -X -h 127.0.0.1 -p 5432 -U postgres "$@"; }
log() { echo "== $*"; }

for port in $PEER_PGPORT $PEER_PORT $P_SQLITE $P_PG $P_1K $P_10K $P_COLD; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already in use (a previous run still up?); stop it first" >&2; exit 1
  fi
done
[ -x "$SECURESCORE" ] || { echo "no securescore binary at $SECURESCORE" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  log "installing wrk"; apt-get install -y wrk > /dev/null 2>&1 || { apt-get update -qq && apt-get install -y wrk; }
fi

# ---------------------------------------------------------------- scratch, cleanup
mkdir -p "$W"
rm -rf "$PEER" "$W"/ss_* "$W"/wrk "$W"/results.tsv "$W"/bin
mkdir -p "$PEER" "$W/wrk" "$W/bin"
chmod 1777 "$PEER"
RES="$W/results.tsv"; : > "$RES"
# A private copy of the binary: a rebuild during the run cannot change what runs.
cp "$SECURESCORE" "$W/bin/securescore"; SS="$W/bin/securescore"

if [ "$(id -u)" = 0 ]; then
  id pgpeer >/dev/null 2>&1 || useradd -m pgpeer
  as_pg() { su pgpeer -c "$*"; }
else
  as_pg() { bash -c "$*"; }
fi

STARTED_PIDS=()
stop_pid() {  # SIGTERM, wait up to 10 s, then SIGKILL
  local p=$1
  kill -0 "$p" 2>/dev/null || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
}
SS_DB_CREATED=0
cleanup() {
  set +e
  for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
  if [ -f "$PEER/pgdata/postmaster.pid" ]; then as_pg "$PGBIN/pg_ctl -D $PEER/pgdata -m fast stop" >/dev/null; fi
  if [ "$SS_DB_CREATED" = 1 ]; then psql_sys -q -d postgres -c "drop database if exists $SS_DB with (force)" >/dev/null; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- measurement helpers
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
tree_pids() { echo "$1"; ps -o pid= --ppid "$1" 2>/dev/null || true; }
ticks() { for p in "$@"; do [ -r "/proc/$p/stat" ] && sed 's/^.*) //' "/proc/$p/stat" | awk -v p="$p" '{print p, $12+$13}'; done; true; }
cpu_pct() {  # before after secs -> % of one core
  awk -v hz="$HZ" -v secs="$3" 'NR==FNR{b[$1]=$2; next} {d=$2-b[$1]; if(d>0) s+=d} END{printf "%.0f", 100*s/hz/secs}' "$1" "$2"
}
stat_pct() {  # before after secs -> "busy steal" as % of one core, from /proc/stat
  awk -v hz="$HZ" -v secs="$3" 'NR==1{for(i=2;i<=9;i++) a[i]=$i; next}
       {busy=($2-a[2])+($3-a[3])+($4-a[4])+($7-a[7])+($8-a[8]); st=$9-a[9];
        printf "%.0f %.0f", 100*busy/hz/secs, 100*st/hz/secs}' "$1" "$2"
}
hwm_mib() { awk '/^VmHWM/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo NA; }
rss_mib() { awk '/^VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo NA; }
reset_hwm() { echo 5 > "/proc/$1/clear_refs" 2>/dev/null || true; }
# Which processes are the database of a configuration: the peer's private cluster (all of it),
# the system cluster's auxiliary processes plus the backends of our database (not other users').
PM_PID=""
db_pids() {
  case "$1" in
    peer) tree_pids "$PM_PID" ;;
    pg) psql_sys -At -d postgres -c "select pid from pg_stat_activity where datname = '$SS_DB' or backend_type <> 'client backend'" 2>/dev/null
        head -1 /var/lib/postgresql/15/main/postmaster.pid 2>/dev/null || true ;;
    *) true ;;
  esac
}

# run_wrk PHASE LABEL RUN SERVER_PID DBKIND URL LUA [LUA ARGS...]
# One measurement window: load average before, wrk, CPU ticks of server / database / wrk / machine.
run_wrk() {
  local phase=$1 label=$2 run=$3 spid=$4 dbkind=$5 url=$6 lua=$7; shift 7
  local tag="${phase}_${label}_${run}" la; la=$(loadavg)
  local sp dp; sp=$(tree_pids "$spid"); dp=$(db_pids "$dbkind")
  reset_hwm "$spid"
  ticks $sp > "$W/wrk/s0"; ticks $dp > "$W/wrk/d0"; head -1 /proc/stat > "$W/wrk/c0"
  local t0 t1 secs; t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time timeout 120 wrk -t2 -c32 -d"$DURATION" --latency -s "$lua" "$url" -- "$@" > "$W/wrk/$tag.log" 2>&1; } 2> "$W/wrk/$tag.time" || true
  t1=$(date +%s.%N); secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
  ticks $sp > "$W/wrk/s1"; head -1 /proc/stat > "$W/wrk/c1"
  # backends opened during the window (PostGraphile's pool closes idle connections after 10 s) count from birth
  ticks $(printf '%s\n' $dp $(db_pids "$dbkind") | sort -u) > "$W/wrk/d1"
  local cs cd cw ms rss line
  cs=$(cpu_pct "$W/wrk/s0" "$W/wrk/s1" "$secs"); cd=$(cpu_pct "$W/wrk/d0" "$W/wrk/d1" "$secs")
  cw=$(awk -v s="$secs" '{printf "%.0f", 100*($1+$2)/s}' "$W/wrk/$tag.time")
  ms=$(stat_pct "$W/wrk/c0" "$W/wrk/c1" "$secs"); rss=$(hwm_mib "$spid")
  local other; other=$(( ${ms% *} - cs - ${cd:-0} - cw ))
  [ "$dbkind" = sqlite ] && cd=-
  line=$(grep '^RESULT' "$W/wrk/$tag.log" | head -1 || true)
  kv() { local v; v=$(grep -o " $1=[^ ]*" <<<" $line" | cut -d= -f2); echo "${v:-NA}"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$label" "$run" \
    "$(kv rps)" "$(kv p50_ms)" "$(kv p90_ms)" "$(kv p99_ms)" "$(kv errors)" "$(kv socket_errors)" "$(kv requests)" \
    "$rss" "$cs" "$cd" "$cw" "${ms% *}/${ms#* }" "$la" "$other" >> "$RES"
  if [ "$(kv errors)" != 0 ] && grep -q '^FIRST_ERROR' "$W/wrk/$tag.log"; then echo "   first error: $(grep -m1 '^FIRST_ERROR' "$W/wrk/$tag.log" | cut -c13-250)"; fi
  printf '   %-10s %-12s run %s  %8s req/s  p50 %7s  p99 %7s ms  err %s/%s  RSS %7s MiB  cpu%% srv %3s db %3s wrk %3s other %3s busy/steal %s  load %s\n' \
    "$phase" "$label" "$run" "$(kv rps)" "$(kv p50_ms)" "$(kv p99_ms)" "$(kv errors)" "$(kv socket_errors)" "$rss" "$cs" "$cd" "$cw" "$other" "${ms% *}/${ms#* }" "$la"
}
warm() {  # URL LUA ARGS... (discarded)
  local url=$1 lua=$2; shift 2
  timeout 60 wrk -t2 -c32 -d"$WARMUP" -s "$lua" "$url" -- "$@" > /dev/null 2>&1 || true
}

# prime PHASE LABEL PID URL TOKEN_FILE QUERY_FILE TENANTS: the first request of every tenant, 32 at a
# time (as benches/load.rs "Q1 cold"): what an empty state cache costs, and the warm-up after which
# the windows measure the steady state.
prime() {
  local la out rps err; la=$(loadavg); reset_hwm "$3"
  out=$(timeout 300 python3 "$W/prime.py" "$4" "$5" "$6" "$7" 32 2>>"$W/prime.err") || out="NA NA"
  rps=${out% *}; err=${out#* }
  printf '%s\t%s\t1\t%s\t\t\t\t%s\t0\t%s\t%s\t\t\t\t\t%s\t\n' "$1" "$2" "$rps" "$err" "$7" "$(hwm_mib "$3")" "$la" >> "$RES"
  echo "   $1 $2: first request of each of $7 tenants, 32 at a time: $rps req/s, $err errors, RSS $(hwm_mib "$3") MiB, load $la"
}
cat > "$W/prime.py" <<'EOF'
import http.client, json, sys, threading, time, urllib.parse
url, token_file, query_file, n, conns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
u = urllib.parse.urlparse(url)
token = open(token_file).read().strip()
q = open(query_file).read()
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
errors = [0] * conns
def work(c):
    h = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    for t in range(c + 1, n + 1, conns):
        body = json.dumps({"query": q, "variables": {"slug": "scale-%05d" % t}})
        try:
            h.request("POST", u.path, body, headers)
            r = h.getresponse(); data = r.read()
            if r.status != 200 or b'"errors"' in data: errors[c] += 1
        except Exception:
            errors[c] += 1
            h = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
t0 = time.time()
ts = [threading.Thread(target=work, args=(c,)) for c in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
print("%.1f %d" % (n / (time.time() - t0), sum(errors)))
EOF

# ---------------------------------------------------------------- files for securescore
# The peer's overview.graphql, in securescore's schema: all six views overall and per category
# (one number each, as the peer's views are), the top 10 ranked actions (default order: rank;
# ranked = TO_ADDRESS/PLANNED with points remaining, as the peer's tenant_top_actions) with
# status, implemented/total, title, category, maxPoints and tag names.
cat > "$W/ss_overview.graphql" <<'EOF'
query Overview($slug: String!) {
  tenant(slug: $slug) {
    slug
    name
    secureScore {
      maxScore { points }
      current { points }
      planned { points }
      currentLicense { points }
      achievable { points }
      verified { points }
      categories {
        category
        maxScore { points }
        current { points }
        planned { points }
        currentLicense { points }
        achievable { points }
        verified { points }
      }
    }
    improvementActions(first: 10) {
      nodes {
        id
        controlId
        status
        implemented
        total
        title
        category
        maxPoints
        tags { name }
      }
    }
  }
}
EOF
# securescore's own workloads, verbatim from benches/load.rs.
cp "$HERE/../wrk/ss_q1.graphql" "$W/ss_q1.graphql"
cat > "$W/ss_q2.graphql" <<'EOF'
query ActionPage($slug: String!, $statuses: [Status!], $categories: [Category!]) { tenant(slug: $slug) {
  improvementActions(filter: { statuses: $statuses, categories: $categories }, orderBy: { field: RANK, direction: ASC }, first: 50) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id controlId title category service tier userImpact implementationCost status implemented total
      maxPoints pointsAchieved pointsRemaining scoreImpact rank licensed seatShortfall reviewBy version
      control { id title threats remediation actionUrl learnMoreUrls requiredLicensePlans }
      tags { name color } }
  }
} }
EOF
cp "$HERE/../wrk/ss_q3.graphql" "$W/ss_q3.graphql"
cat > "$W/ss_m1.graphql" <<'EOF'
mutation Set($i: SetActionStatusInput!) { setActionStatus(input: $i) {
  action { controlId status version } score { current { points percentage } } userErrors { field message code } } }
EOF

# overview.lua adapted: bearer token, securescore's slugs (scale-00001...), per-workload variables.
cp "$HERE/../wrk/ss.lua" "$W/ss.lua"
# M1: setActionStatus alternating TO_ADDRESS <-> PLANNED.  Targets "slug controlId status" (from
# the server just before the run); each wrk thread owns half of the tenants and walks its targets
# round-robin over tenants, so consecutive requests hit different tenants and an action comes
# round again only after all of the thread's other targets: every call is a real change.
cat > "$W/ss_m1.lua" <<'EOF'
-- usage: wrk ... -s ss_m1.lua URL -- TARGETS_FILE TOKEN_FILE QUERY_FILE NTHREADS
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
local function slurp(path) local f = assert(io.open(path, "r")); local s = f:read("*a"); f:close(); return s end
local targets, pos, prefix
function init(args)
  local token = slurp(args[2]):gsub("%s+", "")
  local q = slurp(args[3]):gsub("%s+", " "):gsub("\\", "\\\\"):gsub('"', '\\"')
  local nthreads = tonumber(args[4] or "2")
  local by_tenant, order = {}, {}
  for line in io.lines(args[1]) do
    local s, c, st = line:match("^(%S+) (%S+) (%S+)$")
    if s then
      if not by_tenant[s] then table.insert(order, s); by_tenant[s] = {} end
      table.insert(by_tenant[s], {s, c, st})
    end
  end
  local mine = {}
  for i, s in ipairs(order) do
    if i % nthreads == (tid or 1) % nthreads then table.insert(mine, by_tenant[s]) end
  end
  targets = {}
  local r = 1
  repeat
    local any = false
    for _, l in ipairs(mine) do if l[r] then table.insert(targets, l[r]); any = true end end
    r = r + 1
  until not any
  pos = 0
  prefix = '{"query":"' .. q .. '","variables":{"i":'
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  errors, responses = 0, 0
end
-- wrk calls request() once in the first thread before the run to verify it (script_verify_request)
-- and never sends that one: let that first call be a harmless query, or it would flip a target's
-- status that the server never sees, and that action would fail ("already has that status") when
-- the thread comes round to it again.
local first = true
function request()
  if first then first = false; return wrk.format(nil, nil, nil, '{"query":"{ __typename }"}') end
  pos = pos % #targets + 1
  local t = targets[pos]
  local nx = (t[3] == "PLANNED") and "TO_ADDRESS" or "PLANNED"
  t[3] = nx
  return wrk.format(nil, nil, nil, prefix .. string.format(
    '{"tenantSlug":"%s","controlId":"%s","status":"%s","comment":"load test"}}}', t[1], t[2], nx))
end
function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 or body:find('"errors"', 1, true) or body:find('"userErrors":[{', 1, true) then
    errors = errors + 1
    if not first_error then first_error = status .. " " .. body:sub(1, 200) end
  end
end
function done(summary, latency, requests)
  local e, r = 0, 0
  for _, t in ipairs(threads) do e = e + (t:get("errors") or 0); r = r + (t:get("responses") or 0) end
  for _, t in ipairs(threads) do local f = t:get("first_error"); if f then io.write("FIRST_ERROR " .. f:gsub("\n", " ") .. "\n"); break end end
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d responses=%d errors=%d socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests, r, e,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF

# ---------------------------------------------------------------- GraphQL helpers
ss_body() { jq -cn --rawfile q "$1" --arg s "$2" '{query:$q,variables:{slug:$s}}'; }
ss_post() {  # URL TOKEN_FILE BODY
  curl -s -m 10 -H "Authorization: Bearer $(tr -d '[:space:]' < "$2")" -H 'Content-Type: application/json' -d "$3" "$1"
}
peer_body() { jq -cn --rawfile q "$HERE/overview.graphql" --arg s "$1" '{query:$q,variables:{slug:$s}}'; }
ok_answer() { [ -s "$1" ] && jq -e '(has("errors") | not) and (.data != null)' "$1" >/dev/null 2>&1; }

# ss_start NAME DATABASE_URL PORT [ENV=VALUE...]   -> SS_PID (the server process), STARTED_PIDS
ss_start() {
  local name=$1 url=$2 port=$3; shift 3
  local dir="$W/ss_$name"; mkdir -p "$dir"
  (cd "$dir" && exec env DATABASE_URL="$url" LISTEN_ADDR="127.0.0.1:$port" SEED_DEMO=false LOG_FILTER=warn \
     RATE_LIMIT_PER_MINUTE=1000000000 RATE_LIMIT_BURST=1000000000 "$@" "$SS" serve >> "$dir/serve.log" 2>&1) &
  SS_PID=$!; STARTED_PIDS+=("$SS_PID")
}
# wait_first_answer URL TOKEN_FILE T0 OUT -> prints seconds from T0 to the first error-free overview
wait_first_answer() {
  local url=$1 tok=$2 t0=$3 out=$4 body; body=$(ss_body "$W/ss_overview.graphql" scale-00001)
  for _ in $(seq 3000); do
    ss_post "$url" "$tok" "$body" > "$out" 2>/dev/null || true
    if ok_answer "$out"; then awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}'; return 0; fi
    sleep 0.02
  done
  echo NA; return 1
}
seed_scale() {  # DATABASE_URL DIR TENANTS DAYS
  local url=$1 dir=$2 n=$3 days=$4 t0; mkdir -p "$dir"; t0=$(date +%s.%N)
  (cd "$dir" && DATABASE_URL="$url" LOG_FILTER=warn timeout 900 "$SS" seed-scale --tenants "$n" --controls 250 --days "$days" \
     --tokens-file "$dir/token" > "$dir/seed.log" 2>&1) || { echo "seed-scale failed:" >&2; tail -5 "$dir/seed.log" >&2; exit 1; }
  log "seed-scale $n x 250 x $days days -> $url: $(head -1 "$dir/seed.log" | sed 's/^seeded //') (wall $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"
}

log "machine: $NCPU cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/^Mem/{print $2}') GiB, $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(loadavg)"
log "securescore $(git rev-parse --short HEAD 2>/dev/null || echo '?') binary sha256 $(sha256sum "$SS" | cut -c1-12); wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"

# ---------------------------------------------------------------- peer: PostgreSQL 15 + PostGraphile (as run.sh)
export PGUSER=postgres
mkdir -p "$PEER/pgdata"; [ "$(id -u)" = 0 ] && chown pgpeer "$PEER/pgdata"; chmod 700 "$PEER/pgdata"
as_pg "$PGBIN/initdb -A trust -U postgres -D $PEER/pgdata" > "$PEER/initdb.log"
as_pg "$PGBIN/pg_ctl -D $PEER/pgdata -o \"-p $PEER_PGPORT -c listen_addresses=127.0.0.1 -k $PEER\" -l $PEER/pg.log -w start" >/dev/null
PM_PID=$(head -1 "$PEER/pgdata/postmaster.pid")
psql_peer -q -d postgres -c 'create database peer'
psql_peer -q -d peer -v ON_ERROR_STOP=1 -f "$HERE/schema.sql" 2>&1 | grep -v 'does not exist, skipping' || true
t0=$SECONDS
psql_peer -q -d peer -v ON_ERROR_STOP=1 -v tenants=$TENANTS -f "$HERE/seed.sql" > "$PEER/seed.log"
log "peer postgres $(psql_peer -At -d peer -c 'show server_version') on :$PEER_PGPORT (pid $PM_PID), seeded $TENANTS tenants in $((SECONDS - t0)) s: $(psql_peer -At -d peer -c "select count(*) from action") actions; shared_buffers $(psql_peer -At -d peer -c 'show shared_buffers'), synchronous_commit $(psql_peer -At -d peer -c 'show synchronous_commit')"
if [ "$(node -p "try{require('$NODE_DIR/node_modules/postgraphile/package.json').version}catch(e){''}")" != 4.14.1 ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && timeout 600 npm install --no-audit --no-fund postgraphile@4.14.1 > npm.log 2>&1)
fi
PGL_FLAGS=(-c "postgres://postgres@127.0.0.1:$PEER_PGPORT/peer" --schema public --host 127.0.0.1 --port "$PEER_PORT"
           --disable-graphiql --disable-query-log --no-setof-functions-contain-nulls --legacy-relations omit)
t0=$(date +%s.%N)
(cd "$NODE_DIR" && NODE_ENV=production exec node node_modules/postgraphile/cli.js "${PGL_FLAGS[@]}" > "$PEER/pgl.log" 2>&1) &
PGL_PID=$!; STARTED_PIDS+=("$PGL_PID")
PEER_COLD=NA
for _ in $(seq 3000); do
  curl -s -m 10 -H 'Content-Type: application/json' -d "$(peer_body t00001)" "$PEER_URL" > "$PEER/first.json" 2>/dev/null || true
  if ok_answer "$PEER/first.json"; then PEER_COLD=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.3f", b-a}'); break; fi
  sleep 0.02
done
log "postgraphile $(node -p "require('$NODE_DIR/node_modules/postgraphile/package.json').version") (node $(node -v)) pid $PGL_PID: first error-free overview ${PEER_COLD} s after process start, RSS $(rss_mib "$PGL_PID") MiB"

# ---------------------------------------------------------------- securescore: SQLite and PostgreSQL, 1,000 x 250 x 90
SQ_URL="sqlite://$W/ss_sqlite/ss.db?mode=rwc"
seed_scale "$SQ_URL" "$W/ss_sqlite" $TENANTS 90
psql_sys -q -d postgres -c "create database $SS_DB"; SS_DB_CREATED=1
PG_URL="$SYS_PG/$SS_DB"
seed_scale "$PG_URL" "$W/ss_pg" $TENANTS 90
log "system postgres $(psql_sys -At -d postgres -c 'show server_version') on :5432, db $SS_DB ($(psql_sys -At -d postgres -c "select pg_size_pretty(pg_database_size('$SS_DB'))")); shared_buffers $(psql_sys -At -d postgres -c 'show shared_buffers'), synchronous_commit $(psql_sys -At -d postgres -c 'show synchronous_commit'), other client backends now: $(psql_sys -At -d postgres -c "select count(*) from pg_stat_activity where backend_type='client backend' and datname is distinct from '$SS_DB' and pid <> pg_backend_pid()")"
log "sqlite file: $(du -sh "$W/ss_sqlite" | cut -f1)"
TOK_SQ="$W/ss_sqlite/token"; TOK_PG="$W/ss_pg/token"
U_SQ="http://127.0.0.1:$P_SQLITE/graphql"; U_PG="http://127.0.0.1:$P_PG/graphql"
t0=$(date +%s.%N); ss_start sqlite "$SQ_URL" $P_SQLITE; PID_SQ=$SS_PID
log "ss-sqlite pid $PID_SQ: first overview after $(wait_first_answer "$U_SQ" "$TOK_SQ" "$t0" "$W/ss_sqlite/first.json") s"
t0=$(date +%s.%N); ss_start pg "$PG_URL" $P_PG; PID_PG=$SS_PID
log "ss-pg pid $PID_PG: first overview after $(wait_first_answer "$U_PG" "$TOK_PG" "$t0" "$W/ss_pg/first.json") s"

# ---------------------------------------------------------------- both answer the overview for a sample tenant
curl -s -m 10 -H 'Content-Type: application/json' -d "$(peer_body t00042)" "$PEER_URL" > "$W/sample_peer.json"
ss_post "$U_SQ" "$TOK_SQ" "$(ss_body "$W/ss_overview.graphql" scale-00042)" > "$W/sample_sqlite.json"
ss_post "$U_PG" "$TOK_PG" "$(ss_body "$W/ss_overview.graphql" scale-00042)" > "$W/sample_pg.json"
for f in peer sqlite pg; do ok_answer "$W/sample_$f.json" || { echo "sample overview of $f has errors:" >&2; head -c 600 "$W/sample_$f.json" >&2; exit 1; }; done
log "sample peer t00042: $(wc -c < "$W/sample_peer.json") bytes, errors: $(jq 'has("errors")' "$W/sample_peer.json"); current $(jq -r '.data.tenantBySlug.secureScore.current' "$W/sample_peer.json") of $(jq -r '.data.tenantBySlug.secureScore.maxScore' "$W/sample_peer.json"); $(jq '.data.tenantBySlug.scoreCategories.nodes|length' "$W/sample_peer.json") categories; $(jq '.data.tenantBySlug.topActions.nodes|length' "$W/sample_peer.json") top actions, first: $(jq -c '.data.tenantBySlug.topActions.nodes[0] | {status, implemented, total, title: .controlByControlId.title, tags: [.actionTagsByActionId.nodes[].tagByTagId.name]}' "$W/sample_peer.json")"
for f in sqlite pg; do
  log "sample ss-$f scale-00042: $(wc -c < "$W/sample_$f.json") bytes, errors: $(jq 'has("errors")' "$W/sample_$f.json"); current $(jq -r '.data.tenant.secureScore.current.points' "$W/sample_$f.json") of $(jq -r '.data.tenant.secureScore.maxScore.points' "$W/sample_$f.json"); $(jq '.data.tenant.secureScore.categories|length' "$W/sample_$f.json") categories; $(jq '.data.tenant.improvementActions.nodes|length' "$W/sample_$f.json") top actions, first: $(jq -c '.data.tenant.improvementActions.nodes[0] | {status, implemented, total, title, tags: [.tags[].name]}' "$W/sample_$f.json")"
done
if PEER_URL="$PEER_URL" PGHOST=127.0.0.1 PGPORT=$PEER_PGPORT PGUSER=postgres PGDATABASE=peer python3 "$HERE/verify.py" t00042 > "$W/verify.log" 2>&1; then
  log "peer verify.py t00042: $(grep -o 'VERIFY [A-Z]*' "$W/verify.log" | tail -1)"
else log "peer verify.py t00042 FAILED (see $W/verify.log)"; fi

# ---------------------------------------------------------------- 1. overview, interleaved
log "overview: wrk -t2 -c32 -d$DURATION --latency, random tenant of $TENANTS per request, after a $WARMUP warm-up each; cpu = % of ONE core (the box has $((NCPU * 100))%), busy/steal from /proc/stat"
prime cold-pass ss-sqlite "$PID_SQ" "$U_SQ" "$TOK_SQ" "$W/ss_overview.graphql" $TENANTS
prime cold-pass ss-pg "$PID_PG" "$U_PG" "$TOK_PG" "$W/ss_overview.graphql" $TENANTS
warm "$PEER_URL" "$HERE/overview.lua" $TENANTS
warm "$U_SQ" "$W/ss.lua" $TENANTS "$W/ss_overview.graphql" "$TOK_SQ"
warm "$U_PG" "$W/ss.lua" $TENANTS "$W/ss_overview.graphql" "$TOK_PG"
for i in $(seq "$RUNS"); do
  run_wrk overview peer "$i" "$PGL_PID" peer "$PEER_URL" "$HERE/overview.lua" $TENANTS
  run_wrk overview ss-sqlite "$i" "$PID_SQ" sqlite "$U_SQ" "$W/ss.lua" $TENANTS "$W/ss_overview.graphql" "$TOK_SQ"
  run_wrk overview ss-pg "$i" "$PID_PG" pg "$U_PG" "$W/ss.lua" $TENANTS "$W/ss_overview.graphql" "$TOK_PG"
done
PEER_RSS_IDLE_END=$(rss_mib "$PGL_PID")
stop_pid "$PGL_PID"; as_pg "$PGBIN/pg_ctl -D $PEER/pgdata -m fast stop" >/dev/null; PM_PID=""
log "peer stopped (node RSS at the end $PEER_RSS_IDLE_END MiB)"

# ---------------------------------------------------------------- 2. securescore's own workloads, SQLite and PostgreSQL alternating
FROM=$(date -u -d '89 days ago' +%F); TO=$(date -u +%F)
m1_targets() {  # URL TOKEN_FILE OUT: 400 tenants spread over the 1,000, 20 TO_ADDRESS/PLANNED actions each (as benches/load.rs)
  local url=$1 tok=$2 out=$3 q="" t s i
  : > "$out"
  for ((i = 0; i < 400; i++)); do
    t=$((i * TENANTS / 400 + 1)); s=$(printf 'scale-%05d' "$t")
    q+="a$i: tenant(slug: \"$s\") { slug improvementActions(filter: { statuses: [TO_ADDRESS, PLANNED], categories: [IDENTITY, APPS, DATA, INFRASTRUCTURE] }, first: 20) { nodes { controlId status } } } "
    if (( (i + 1) % 10 == 0 )); then   # 10 aliases per request: the server allows 15 (MAX_ALIASES)
      ss_post "$url" "$tok" "$(jq -cn --arg q "query { $q }" '{query:$q}')" |
        jq -r '(.data // {}) | to_entries[] | .value as $t | $t.improvementActions.nodes[] | "\($t.slug) \(.controlId) \(.status)"' >> "$out" || true
      q=""
    fi
  done
}
log "own workloads (benches/load.rs queries): Q1 overview, Q2 action page, Q3 trends $FROM..$TO, M1 setActionStatus; $WL_WARMUP warm-up before each window; RSS = VmHWM reset before each window"
for i in $(seq "$WL_RUNS"); do
  for wl in Q1 Q2 Q3 M1; do
    for b in sqlite pg; do
      if [ $b = sqlite ]; then u=$U_SQ; tok=$TOK_SQ; pid=$PID_SQ; else u=$U_PG; tok=$TOK_PG; pid=$PID_PG; fi
      case $wl in
        Q1) args=("$W/ss.lua" $TENANTS "$W/ss_q1.graphql" "$tok") ;;
        Q2) args=("$W/ss.lua" $TENANTS "$W/ss_q2.graphql" "$tok" q2) ;;
        Q3) args=("$W/ss.lua" $TENANTS "$W/ss_q3.graphql" "$tok" q3 "$FROM" "$TO") ;;
        M1) m1_targets "$u" "$tok" "$W/m1_$b.txt"; args=("$W/ss_m1.lua" "$W/m1_$b.txt" "$tok" "$W/ss_m1.graphql" 2) ;;
      esac
      WARMUP=$WL_WARMUP warm "$u" "${args[@]}"
      if [ $wl = M1 ]; then sleep 1; m1_targets "$u" "$tok" "$W/m1_$b.txt"; fi   # the warm-up changed statuses
      run_wrk "$wl" "ss-$b" "$i" "$pid" $b "$u" "${args[@]}"
    done
  done
done
[ -s "$W/m1_sqlite.txt" ] && log "M1 targets: $(wc -l < "$W/m1_sqlite.txt") (sqlite) / $(wc -l < "$W/m1_pg.txt") (pg) actions over 400 tenants"
log "Q3 response size: $(ss_post "$U_SQ" "$TOK_SQ" "$(jq -cn --rawfile q "$W/ss_q3.graphql" --arg f "$FROM" --arg t "$TO" '{query:$q,variables:{slug:"scale-00042",from:$f,to:$t}}')" | wc -c) bytes"

# ---------------------------------------------------------------- 3. cold start on the seeded databases
log "cold start: process start -> first error-free overview (scale-00001) on the already-seeded database, $COLD_RUNS x each"
for b in sqlite pg; do
  if [ $b = sqlite ]; then stop_pid "$PID_SQ"; url=$SQ_URL; tok=$TOK_SQ; else stop_pid "$PID_PG"; url=$PG_URL; tok=$TOK_PG; fi
  for i in $(seq "$COLD_RUNS"); do
    la=$(loadavg); t0=$(date +%s.%N); ss_start "cold_$b" "$url" $P_COLD
    s=$(wait_first_answer "http://127.0.0.1:$P_COLD/graphql" "$tok" "$t0" "$W/cold_$b.json" || true)
    r=$(hwm_mib "$SS_PID"); stop_pid "$SS_PID"
    printf 'cold\tss-%s\t%s\t\t%s\t\t\t\t\t\t%s\t\t\t\t\t%s\n' $b "$i" "$s" "$r" "$la" >> "$RES"
    echo "   cold ss-$b run $i: first answer after $s s, peak RSS $r MiB, load $la"
  done
done
printf 'cold\tpeer\t1\t\t%s\t\t\t\t\t\t\t\t\t\t\t\n' "$PEER_COLD" >> "$RES"
psql_sys -q -d postgres -c "drop database if exists $SS_DB with (force)" >/dev/null && SS_DB_CREATED=0

# ---------------------------------------------------------------- 4. Q1 at 10,000 vs 1,000 tenants (SQLite, 7 days, default configuration)
log "Q1 vs tenants: SQLite, 7 days of history, default configuration (STATE_CACHE_MIB=32), interleaved"
rm -rf "$W/ss_sqlite"   # the 90-day data set is no longer needed
seed_scale "sqlite://$W/ss_1k/ss.db?mode=rwc" "$W/ss_1k" 1000 7
seed_scale "sqlite://$W/ss_10k/ss.db?mode=rwc" "$W/ss_10k" "$SCALE_TENANTS" 7
ss_start 1k "sqlite://$W/ss_1k/ss.db?mode=rwc" $P_1K; PID_1K=$SS_PID
ss_start 10k "sqlite://$W/ss_10k/ss.db?mode=rwc" $P_10K; PID_10K=$SS_PID
U_1K="http://127.0.0.1:$P_1K/graphql"; U_10K="http://127.0.0.1:$P_10K/graphql"
wait_first_answer "$U_1K" "$W/ss_1k/token" "$(date +%s.%N)" "$W/ss_1k/first.json" >/dev/null
wait_first_answer "$U_10K" "$W/ss_10k/token" "$(date +%s.%N)" "$W/ss_10k/first.json" >/dev/null
prime cold-pass 1k-7d "$PID_1K" "$U_1K" "$W/ss_1k/token" "$W/ss_q1.graphql" 1000
prime cold-pass "${SCALE_TENANTS%000}k-7d" "$PID_10K" "$U_10K" "$W/ss_10k/token" "$W/ss_q1.graphql" "$SCALE_TENANTS"
warm "$U_1K" "$W/ss.lua" 1000 "$W/ss_q1.graphql" "$W/ss_1k/token"
warm "$U_10K" "$W/ss.lua" "$SCALE_TENANTS" "$W/ss_q1.graphql" "$W/ss_10k/token"
for i in $(seq "$RUNS"); do
  run_wrk Q1-scale 1k-7d "$i" "$PID_1K" sqlite "$U_1K" "$W/ss.lua" 1000 "$W/ss_q1.graphql" "$W/ss_1k/token"
  run_wrk Q1-scale "${SCALE_TENANTS%000}k-7d" "$i" "$PID_10K" sqlite "$U_10K" "$W/ss.lua" "$SCALE_TENANTS" "$W/ss_q1.graphql" "$W/ss_10k/token"
done
stop_pid "$PID_1K"; stop_pid "$PID_10K"

# ---------------------------------------------------------------- summary
echo
log "summary (median of the runs; req/s of each run in brackets; RSS = largest VmHWM of the windows; cpu % of one core, medians)"
awk -F'\t' '
  function med(s,   n, a, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
                                  if (n == 0) return "NA"; return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  $1 != "cold" { k = $1 "|" $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
         rps[k] = rps[k] " " $4; p50[k] = p50[k] " " $5; p99[k] = p99[k] " " $7; err[k] += $8 + $9; req[k] += $10
         if ($11 + 0 > rss[k] + 0) rss[k] = $11; cs[k] = cs[k] " " $12; cd[k] = cd[k] " " $13; cw[k] = cw[k] " " $14
         split($15, bs, "/"); busy[k] = busy[k] " " bs[1]; st[k] = st[k] " " bs[2]; ot[k] = ot[k] " " $17; la[k] = la[k] (la[k] == "" ? "" : "; ") $16 }
  $1 == "cold" { c = $2; cold[c] = cold[c] " " $5; if ($11 + 0 > crss[c] + 0) crss[c] = $11; if (!(c in cseen)) { cseen[c] = 1; corder[++m] = c } }
  END {
    printf "| workload | config | req/s median [runs] | p50 ms | p99 ms | errors/requests | peak RSS MiB | cpu srv | cpu db | cpu wrk | cpu other | busy/steal | load avg before each run |\n"
    printf "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    for (i = 1; i <= n; i++) { k = order[i]; split(k, kk, "|")
      printf "| %s | %s | %s [%s] | %s | %s | %d/%d | %s | %s | %s | %s | %s | %s/%s | %s |\n", kk[1], kk[2], med(rps[k]), substr(rps[k], 2), med(p50[k]), med(p99[k]), err[k], req[k], rss[k],
        med(cs[k]), (cd[k] ~ /-/ ? "-" : med(cd[k])), med(cw[k]), med(ot[k]), med(busy[k]), med(st[k]), la[k] }
    printf "\n| cold start | seconds from process start to first error-free overview [runs] | peak RSS MiB |\n|---|---|---:|\n"
    for (i = 1; i <= m; i++) { c = corder[i]; printf "| %s | %s [%s] | %s |\n", c, med(cold[c]), substr(cold[c], 2), (crss[c] == "" ? "-" : crss[c]) }
  }' "$RES"
echo
# per-round ratios (same round = adjacent windows), then their median
awk -F'\t' '$1 == "overview" { r[$2 "|" $3] = $4; if ($3 > n) n = $3 }
  $1 == "Q1-scale" { if ($2 ~ /^1k/) a[$3] = $4 " " $5; else b[$3] = $4 " " $5; if ($3 > q) q = $3 }
  function med(s,   n, x, i, j, t) { n = split(s, x, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
                                  return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
  END {
    for (i = 1; i <= n; i++) { s = r["ss-sqlite|" i] / r["peer|" i]; p = r["ss-pg|" i] / r["peer|" i]; S = S " " s; P = P " " p
      printf "overview round %d: peer %.1f, ss-sqlite %.1f, ss-pg %.1f req/s -> sqlite/peer %.2f, pg/peer %.2f\n", i, r["peer|" i], r["ss-sqlite|" i], r["ss-pg|" i], s, p }
    for (i = 1; i <= q; i++) { split(a[i], x, " "); split(b[i], y, " "); R = R " " y[1] / x[1]; L = L " " y[2] / x[2]
      printf "Q1 round %d: 1k %.1f req/s p50 %.2f ms, 10k %.1f req/s p50 %.2f ms -> 10k/1k req/s %.2f, p50 %.2fx\n", i, x[1], x[2], y[1], y[2], y[1] / x[1], y[2] / x[2] }
    if (q) printf "Q1 10k/1k (median of rounds): req/s %.2f, p50 %.2fx\n", med(R), med(L)
    printf "overview ratio sqlite/peer=%.2f pg/peer=%.2f\n", med(S), med(P) }' "$RES"
