#!/usr/bin/env bash
# OpenPGP benchmark: `ward encrypt -r pgp:` / `ward decrypt -i` (OpenPGP.js, pure JS) against `gpg`
# on a random file on tmpfs, cv25519 key made by gpg in a throwaway GNUPGHOME, alternating runs in
# the same session, medians of wall time and peak RSS (/usr/bin/time -v). Binary messages, -o to
# /dev/shm. Usage: bench/pgp/run.sh [RUNS] [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
SIZE_MIB=${2:-256}
for cmd in gpg gpgconf /usr/bin/time; do
  command -v "$cmd" >/dev/null || { echo "bench/pgp: $cmd missing (apt-get install -y gnupg time)" >&2; exit 1; }
done
NODE=${NODE:-$(command -v node)}
"$NODE" -e 'if (+process.versions.node.split(".")[0] < 24) process.exit(1)' || { echo "bench/pgp: need node 24 (PATH=node_modules/.bin:\$PATH)" >&2; exit 1; }
WARD=("$NODE" "$PWD/bin/ward.js")

D=$(mktemp -d /dev/shm/ward-bench-pgp.XXXXXX)
export GNUPGHOME=$(mktemp -d)
trap 'gpgconf --kill gpg-agent; rm -rf "$D" "$GNUPGHOME"' EXIT
GPG=(gpg --batch --quiet --yes --pinentry-mode loopback --trust-model always)
"${GPG[@]}" --passphrase '' --quick-gen-key 'Bench <bench@example.org>' ed25519 cert never
FPR=$("${GPG[@]}" --with-colons --list-keys bench@example.org | awk -F: '/^fpr/ { print $10; exit }')
"${GPG[@]}" --passphrase '' --quick-add-key "$FPR" cv25519 encr never
"${GPG[@]}" --armor --export "$FPR" >"$D/pub.asc"
"${GPG[@]}" --passphrase '' --armor --export-secret-keys "$FPR" >"$D/sec.asc"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$D/plain"

# measure NAME CMD...: appends "wall_seconds maxrss_kib cpu_seconds" to $D/NAME
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$D/time.txt" "$@" >/dev/null
  awk '/Elapsed \(wall clock\)/ { split($NF, t, ":"); s = (length(t) == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2] }
       /User time \(seconds\)|System time \(seconds\)/ { c += $NF }
       /Maximum resident set size/ { m = $NF } END { print s, m, c }' "$D/time.txt" >>"$D/$name"
}

for i in $(seq "$RUNS"); do
  measure ward-enc "${WARD[@]}" encrypt -r "pgp:$D/pub.asc" -o "$D/w.gpg" "$D/plain"
  measure gpg-enc "${GPG[@]}" --compress-algo none -e -r "$FPR" -o "$D/g.gpg" "$D/plain"
  measure ward-dec "${WARD[@]}" decrypt -i "$D/sec.asc" -o "$D/w.out" "$D/g.gpg"
  measure gpg-dec "${GPG[@]}" -d -o "$D/g.out" "$D/w.gpg"
  cmp -s "$D/plain" "$D/w.out" && cmp -s "$D/plain" "$D/g.out" || { echo "bench/pgp: round trip mismatch" >&2; exit 1; }
  rm -f "$D/w.out" "$D/g.out"
  echo "run $i/$RUNS done" >&2
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$D/$1" | median; }
MB=$((SIZE_MIB * 1048576))
echo "pgp benchmark: ${SIZE_MIB} MiB random file on /dev/shm, cv25519, $RUNS alternating runs, medians"
echo "node $("$NODE" -v), $(gpg --version | head -1)"
printf '%-5s %8s %8s %10s %10s %7s %10s %10s %12s %12s\n' job ward_s gpg_s ward_MB/s gpg_MB/s ratio ward_cpu_s gpg_cpu_s ward_RSS_MiB gpg_RSS_MiB
for job in enc dec; do
  ws=$(col ward-$job 1); gs=$(col gpg-$job 1); wm=$(col ward-$job 2); gm=$(col gpg-$job 2); wc=$(col ward-$job 3); gc=$(col gpg-$job 3)
  awk -v j="$job" -v ws="$ws" -v gs="$gs" -v wm="$wm" -v gm="$gm" -v wc="$wc" -v gc="$gc" -v mb="$MB" 'BEGIN {
    printf "%-5s %8.2f %8.2f %10.0f %10.0f %7.2f %10.2f %10.2f %12.1f %12.1f\n", j, ws, gs, mb/ws/1e6, mb/gs/1e6, ws/gs, wc, gc, wm/1024, gm/1024 }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
