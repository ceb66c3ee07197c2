#!/usr/bin/env bash
# ward dir encrypt/decrypt against `rclone copy` through a crypt remote, on tmpfs.
# 1 GiB in 1,000 files (override: FILES, BYTES, ROUNDS, JOBS). Runs alternate Ward and rclone;
# prints each run, then medians of wall time, MB/s and peak RSS (/usr/bin/time -v), and ratios.
# Needs rclone (apt-get install rclone) and /usr/bin/time (apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
FILES=${FILES:-1000}
BYTES=${BYTES:-1073741824}
ROUNDS=${ROUNDS:-5}
JOBS=${JOBS:-4}
W=$(mktemp -d /dev/shm/ward-bench-dir.XXXXXX)
trap 'rm -rf "$W"' EXIT
node bench/dir/gen.ts "$W/plain" "$FILES" "$BYTES"
printf 'bench-password\n' >"$W/pw"
printf 'bench-salt\n' >"$W/salt"
export RCLONE_CONFIG_BENCHW_TYPE=crypt RCLONE_CONFIG_BENCHW_REMOTE="$W/wenc"
export RCLONE_CONFIG_BENCHR_TYPE=crypt RCLONE_CONFIG_BENCHR_REMOTE="$W/renc"
for r in BENCHW BENCHR; do
  export "RCLONE_CONFIG_${r}_PASSWORD=$(rclone obscure bench-password)"
  export "RCLONE_CONFIG_${r}_PASSWORD2=$(rclone obscure bench-salt)"
done
export NODE_COMPILE_CACHE="$W/.cache"
ward=(node bin/ward.js dir)
wflags=(--password-file "$W/pw" --salt-file "$W/salt" --jobs "$JOBS")

# measure NAME CMD...: runs CMD under /usr/bin/time -v, appends "NAME seconds rss_kib" to $W/runs.
measure() {
  local name=$1
  shift
  /usr/bin/time -v "$@" 2>"$W/time.txt" >/dev/null || { cat "$W/time.txt" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$W/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$W/time.txt")
  echo "$name $wall $rss" | tee -a "$W/runs"
}

# Warm the compile cache with a tiny tree, so no measured run pays for type stripping.
node bench/dir/gen.ts "$W/warm" 2 1000
"${ward[@]}" encrypt "$W/warm" "$W/warm.enc" "${wflags[@]}"
"${ward[@]}" decrypt "$W/warm.enc" "$W/warm.dec" "${wflags[@]}"
for ((i = 1; i <= ROUNDS; i++)); do
  rm -rf "$W/wenc" "$W/renc"
  measure ward-encrypt "${ward[@]}" encrypt "$W/plain" "$W/wenc" "${wflags[@]}"
  measure rclone-encrypt rclone copy "$W/plain" BENCHR: --log-level ERROR
  rm -rf "$W/wdec" "$W/rdec"
  measure ward-decrypt "${ward[@]}" decrypt "$W/renc" "$W/wdec" "${wflags[@]}"
  measure rclone-decrypt rclone copy BENCHR: "$W/rdec" --log-level ERROR
  rm -rf "$W/wdec" "$W/rdec"
done
node -e '
const runs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const bytes = Number(process.argv[2]);
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const stat = (name) => { const r = runs.filter((x) => x[0] === name); const rss = r.map((x) => Number(x[2]) / 1024); return { t: med(r.map((x) => Number(x[1]))), rss: `${med(rss).toFixed(0)} (max ${Math.max(...rss).toFixed(0)})` }; };
console.log("\n| job | Ward s (MB/s) | rclone s (MB/s) | wall ratio Ward/rclone | Ward peak RSS MiB, median (max) | rclone peak RSS MiB, median (max) |");
console.log("|---|---|---|---|---|---|");
for (const op of ["encrypt", "decrypt"]) {
  const w = stat("ward-" + op), r = stat("rclone-" + op);
  const mbs = (t) => (bytes / 1e6 / t).toFixed(0);
  console.log(`| ${op} | ${w.t.toFixed(2)} (${mbs(w.t)}) | ${r.t.toFixed(2)} (${mbs(r.t)}) | ${(w.t / r.t).toFixed(2)} | ${w.rss} | ${r.rss} |`);
}' "$W/runs" "$BYTES"
