#!/usr/bin/env bash
# Ward quick start, from a fresh clone in one command (`npm run quickstart`, or
# `bash examples/quickstart.sh`):
#
#   1. `ward init`: a new deployment (CA, server and admin certificates, master key, ward.toml,
#      SQLite database) in a temporary directory;
#   2. `ward server` in the background, on a free port;
#   3. `ward secret set` / `ward secret get`: store a secret and read it back as the admin;
#   4. `ward cert issue` + `ward run`: a workload certificate, and an app that gets the secret as
#      an environment variable;
#   5. `ward audit tail` / `ward audit verify`: what happened, hash-chained;
#   6. stop the server and remove the directory (WARD_QUICKSTART_KEEP=1 keeps it).
#
# WARD_QUICKSTART_DIR=DIR uses DIR (which must not hold a deployment yet) instead of a temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ ! -x node_modules/.bin/node ]; then
  echo "quickstart: installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
# Ward needs Node 24 (type stripping): the one pinned in devDependencies comes first.
export PATH="$ROOT/node_modules/.bin:$PATH"
# Nothing from the caller's environment decides which server or identity is used.
unset WARD_SERVER WARD_IDENTITY WARD_CONFIG WARD_APP WARD_ENV

ward() { node "$ROOT/bin/ward.js" "$@"; }
if [ -t 2 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN" >&2; }
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

WORK=${WARD_QUICKSTART_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/ward-quickstart.XXXXXX")}
mkdir -p "$WORK"
DEP="$WORK/ward"
SERVER_PID=""
cleanup() {
  status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    step "stopping the server"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${WARD_QUICKSTART_KEEP:-}" = 1 ]; then
    echo "quickstart: kept the deployment in $DEP" >&2
  elif [ -z "${WARD_QUICKSTART_DIR:-}" ]; then
    rm -rf "$WORK"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "ward init $DEP"
ward init "$DEP"

PORT=$(free_port)
HEALTH_PORT=$(free_port)
# Inside the deployment directory the operator commands need no flags: ward.toml names the
# server (default https://localhost:8443) and the admin identity (admin/). This script picks a
# free port instead of 8443, so it says where the server is with WARD_SERVER.
export WARD_SERVER="https://localhost:$PORT"
cd "$DEP"

step "ward server --listen 127.0.0.1:$PORT   (in the background, log in $DEP/server.log)"
# Started directly, not through the ward() function: $! must be the server itself, so the
# cleanup's SIGTERM reaches it (a function in the background is a subshell of its own).
node "$ROOT/bin/ward.js" server --listen "127.0.0.1:$PORT" --health-listen "127.0.0.1:$HEALTH_PORT" >"$DEP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q 'listening on' "$DEP/server.log" 2>/dev/null && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$DEP/server.log" >&2; echo "quickstart: the server did not start" >&2; exit 1; fi
  sleep 0.2
done
grep -q 'listening on' "$DEP/server.log" || { cat "$DEP/server.log" >&2; echo "quickstart: the server did not start in 20 s" >&2; exit 1; }
cat "$DEP/server.log" >&2

step "store a secret: printf %s 'correct horse battery staple' | ward secret set quickstart/dev/DB_PASSWORD"
printf %s 'correct horse battery staple' | ward secret set quickstart/dev/DB_PASSWORD

step "read it back: ward secret get quickstart/dev/DB_PASSWORD"
VALUE=$(ward secret get quickstart/dev/DB_PASSWORD)
echo "$VALUE"
[ "$VALUE" = 'correct horse battery staple' ] || { echo "quickstart: read back $VALUE" >&2; exit 1; }

step "ward secret ls quickstart"
ward secret ls quickstart

step "a workload certificate: ward cert issue web-1 --app quickstart --env dev --out $WORK/web-1"
ward cert issue web-1 --app quickstart --env dev --out "$WORK/web-1"

step "the app gets its secrets at start-up: ward run --identity $WORK/web-1 -- sh -c 'echo \"DB_PASSWORD has \${#DB_PASSWORD} characters\"'"
APP_OUT=$(ward run --identity "$WORK/web-1" -- sh -c 'echo "DB_PASSWORD has ${#DB_PASSWORD} characters"')
echo "$APP_OUT"
[ "$APP_OUT" = 'DB_PASSWORD has 28 characters' ] || { echo "quickstart: ward run gave: $APP_OUT" >&2; exit 1; }

step "who did what: ward audit tail -n 5"
ward audit tail -n 5

step "ward audit verify"
ward audit verify

step "done: the secret went in, came back out, and reached the app over mutual TLS"
