#!/usr/bin/env bash
# ward image copy against skopeo copy: one image with one 1 GiB layer (random, so incompressible),
# oci: to oci: on tmpfs, encrypting to an RSA JWE key and decrypting. Runs alternate Ward and
# skopeo (override ROUNDS, BYTES); prints each run, then medians of wall time and peak RSS
# (/usr/bin/time -v) and the ratios. Both decrypt the same skopeo-encrypted image.
# Needs skopeo, openssl and /usr/bin/time (apt-get install skopeo openssl time).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
BYTES=${BYTES:-1073741824}
ROUNDS=${ROUNDS:-5}
W=$(mktemp -d /dev/shm/ward-bench-image.XXXXXX)
trap 'rm -rf "$W"' EXIT
node bench/image/gen.ts "$W/src" "$BYTES"
openssl genrsa -out "$W/key.pem" 2048 2>/dev/null
openssl rsa -in "$W/key.pem" -pubout -out "$W/key.pub" 2>/dev/null
export NODE_COMPILE_CACHE="$W/.cache"
node bin/ward.js --version >/dev/null # warm the compile cache
skopeo copy -q --insecure-policy --encryption-key "jwe:$W/key.pub" "oci:$W/src:latest" "oci:$W/enc:latest"

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

for ((i = 1; i <= ROUNDS; i++)); do
  rm -rf "$W/out"
  measure ward-encrypt node bin/ward.js image copy -q --encryption-key "jwe:$W/key.pub" "oci:$W/src:latest" "oci:$W/out:latest"
  rm -rf "$W/out"
  measure skopeo-encrypt skopeo copy -q --insecure-policy --encryption-key "jwe:$W/key.pub" "oci:$W/src:latest" "oci:$W/out:latest"
  rm -rf "$W/out"
  measure ward-decrypt node bin/ward.js image copy -q --decryption-key "$W/key.pem" "oci:$W/enc:latest" "oci:$W/out:latest"
  rm -rf "$W/out"
  measure skopeo-decrypt skopeo copy -q --insecure-policy --decryption-key "$W/key.pem" "oci:$W/enc:latest" "oci:$W/out:latest"
done
rm -rf "$W/out"
node -e '
const runs = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const bytes = Number(process.argv[2]);
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const stat = (name) => { const r = runs.filter((x) => x[0] === name); return { t: med(r.map((x) => Number(x[1]))), rss: med(r.map((x) => Number(x[2]))) / 1024, max: Math.max(...r.map((x) => Number(x[2]))) / 1024 }; };
console.log("\n| job | Ward s (MB/s) | skopeo s (MB/s) | wall ratio Ward/skopeo | Ward peak RSS MiB (max) | skopeo peak RSS MiB |");
console.log("|---|---|---|---|---|---|");
for (const op of ["encrypt", "decrypt"]) {
  const w = stat("ward-" + op), s = stat("skopeo-" + op);
  const mbs = (t) => (bytes / 1e6 / t).toFixed(0);
  console.log(`| ${op} | ${w.t.toFixed(2)} (${mbs(w.t)}) | ${s.t.toFixed(2)} (${mbs(s.t)}) | ${(w.t / s.t).toFixed(2)} | ${w.rss.toFixed(0)} (${w.max.toFixed(0)}) | ${s.rss.toFixed(0)} |`);
}' "$W/runs" "$BYTES"
