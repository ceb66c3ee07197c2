#!/usr/bin/env bash
# Server benchmark (issue 3): Ward vs nginx serving the same bytes over mTLS (TLS 1.3, client
# certificate verified), same load generator, same run, alternating, medians.
#   (a) keepalive: 50 connections, GET /v1/env/bench/prod (20 secrets; every Ward read audited)
#   (b) handshake: a new mTLS connection per request (50 concurrent workers)
# Servers pinned to CPU 0, the load generator to CPU 1. Needs nginx (apt-get install nginx-light).
#   ROUNDS=3 SECONDS_PER_RUN=10 bash bench/server/run.sh
# LAYERS=1 adds, in keep-alive mode only, the layers of bench/server/layers.ts (bare node:https,
# bare fastify, Ward without audit writes) in the same alternation: where Ward's CPU goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-50}
# KEX_GROUPS=X25519 makes the client offer only X25519 (nginx's OpenSSL 3.0 has no ML-KEM; Ward
# otherwise negotiates X25519MLKEM768, ~13% more handshake CPU).
GROUPS_OPT=()
if [[ -n "${KEX_GROUPS:-}" ]]; then GROUPS_OPT=(--groups "$KEX_GROUPS"); fi
WARD_PORT=${WARD_PORT:-18643}
NGINX_PORT=${NGINX_PORT:-18644}
command -v nginx >/dev/null || { echo "bench/server: nginx not found (apt-get install nginx-light)" >&2; exit 1; }

DIR=$(mktemp -d /var/tmp/ward-bench-server.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

node bench/server/setup.ts "$DIR" "$NGINX_PORT" >"$DIR/setup.json"
BYTES=$(stat -c %s "$DIR/static/v1/env/bench/prod")
taskset -c 0 node bin/ward.js server --config "$DIR/deployment/ward.toml" --listen "127.0.0.1:$WARD_PORT" --health-listen '' 2>"$DIR/ward.log" &
WARD_PID=$!
PIDS+=("$WARD_PID")
taskset -c 0 nginx -c "$DIR/nginx.conf" -p "$DIR" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for port in "$WARD_PORT" "$NGINX_PORT"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1)
LAYER_NAMES=()
LAYER_PORTS=()
LAYER_PIDS=()
if [[ -n "${LAYERS:-}" ]]; then
  port=$((NGINX_PORT + 1))
  for layer in https fastify ward-noaudit; do
    taskset -c 0 node bench/server/layers.ts "$layer" "$DIR" "$port" 2>>"$DIR/layers.log" &
    PIDS+=("$!")
    LAYER_NAMES+=("$layer")
    LAYER_PORTS+=("$port")
    LAYER_PIDS+=("$!")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    port=$((port + 1))
  done
fi

echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node -v), nginx $(nginx -v 2>&1 | cut -d/ -f2), body $BYTES bytes" >&2
load() { # MODE PORT LABEL SERVER_PID
  taskset -c 1 node bench/server/loadgen.ts --mode "$1" --port "$2" --label "$3" --server-pid "$4" --path /v1/env/bench/prod \
    --ca "$DIR/deployment/ca/ca.crt" --cert "$DIR/workload/cert.pem" --key "$DIR/workload/key.pem" \
    --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --expect-bytes "$BYTES" "${GROUPS_OPT[@]}" | tee -a "$DIR/results.jsonl" >&2
}
for round in $(seq "$ROUNDS"); do
  for mode in keepalive handshake; do
    labels=(ward nginx); ports=("$WARD_PORT" "$NGINX_PORT"); pids=("$WARD_PID" "$NGINX_WORKER")
    if [[ $mode == keepalive ]]; then labels+=("${LAYER_NAMES[@]}"); ports+=("${LAYER_PORTS[@]}"); pids+=("${LAYER_PIDS[@]}"); fi
    n=${#labels[@]}
    for ((k = 0; k < n; k++)); do
      # odd rounds in order, even rounds reversed
      i=$(( round % 2 ? k : n - 1 - k ))
      load "$mode" "${ports[$i]}" "${labels[$i]}" "${pids[$i]}"
    done
  done
done
node bench/server/summarize.ts <"$DIR/results.jsonl"
echo "# audit records written by Ward: $(node -e "const {DatabaseSync}=require('node:sqlite');const d=new DatabaseSync(process.argv[1],{readOnly:true});console.log(d.prepare('select count(*) n from audit').get().n)" "$DIR/deployment/data/ward.db")"
