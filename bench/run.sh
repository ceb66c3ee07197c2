#!/usr/bin/env bash
# Runs every benchmark (on demand, never in CI). Each writes its figures to stdout; copy them into
# bench/RESULTS.md with the command used.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/age/run.sh
bash bench/pgp/run.sh
bash bench/dir/run.sh
node bench/run/run.bench.ts
bash bench/image/run.sh
bash bench/server/run.sh
