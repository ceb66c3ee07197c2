#!/usr/bin/env bash
# age benchmark: `ward encrypt/decrypt` against the `age` CLI on a 1 GiB random file on tmpfs,
# X25519 recipient, alternating runs in the same session, medians of wall time and of peak RSS
# (/usr/bin/time -v). Usage: bench/age/run.sh [RUNS] [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
SIZE_MIB=${2:-1024}
for cmd in age age-keygen /usr/bin/time; do
  command -v "$cmd" >/dev/null || { echo "bench/age: $cmd missing (apt-get install -y age time)" >&2; exit 1; }
done
NODE=${NODE:-$(command -v node)}
"$NODE" -e 'if (+process.versions.node.split(".")[0] < 24) process.exit(1)' || { echo "bench/age: need node 24 (PATH=node_modules/.bin:\$PATH)" >&2; exit 1; }
WARD=("$NODE" "$PWD/bin/ward.js")

D=$(mktemp -d /dev/shm/ward-bench-age.XXXXXX)
trap 'rm -rf "$D"' EXIT
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$D/plain"
"${WARD[@]}" keygen -o "$D/key" >"$D/recipient"
R=$(cat "$D/recipient")
"${WARD[@]}" --version >/dev/null # warm the compile cache

# measure NAME CMD...: appends "wall_seconds maxrss_kib cpu_seconds" to $D/NAME
measure() {
  local name=$1; shift
  /usr/bin/time -v -o "$D/time.txt" "$@" >/dev/null
  awk '/Elapsed \(wall clock\)/ { split($NF, t, ":"); s = (length(t) == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2] }
       /User time \(seconds\)|System time \(seconds\)/ { c += $NF }
       /Maximum resident set size/ { m = $NF } END { print s, m, c }' "$D/time.txt" >>"$D/$name"
}

for i in $(seq "$RUNS"); do
  measure ward-enc "${WARD[@]}" encrypt -r "$R" -o "$D/w.age" "$D/plain"
  measure age-enc age -r "$R" -o "$D/a.age" "$D/plain"
  measure ward-dec "${WARD[@]}" decrypt -i "$D/key" -o "$D/w.out" "$D/a.age"
  measure age-dec age -d -i "$D/key" -o "$D/a.out" "$D/w.age"
  cmp -s "$D/plain" "$D/w.out" && cmp -s "$D/plain" "$D/a.out" || { echo "bench/age: round trip mismatch" >&2; exit 1; }
  rm -f "$D/w.out" "$D/a.out"
  echo "run $i/$RUNS done" >&2
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$2" '{ print $c }' "$D/$1" | median; }
MB=$((SIZE_MIB * 1048576))
echo "age benchmark: ${SIZE_MIB} MiB random file on /dev/shm, X25519, $RUNS alternating runs, medians"
echo "node $("$NODE" -v), $(age --version 2>/dev/null | head -1 | sed 's/^/age /')"
printf '%-5s %8s %8s %10s %10s %7s %10s %10s %12s %12s\n' job ward_s age_s ward_MB/s age_MB/s ratio ward_cpu_s age_cpu_s ward_RSS_MiB age_RSS_MiB
for job in enc dec; do
  ws=$(col ward-$job 1); as=$(col age-$job 1); wm=$(col ward-$job 2); am=$(col age-$job 2); wc=$(col ward-$job 3); ac=$(col age-$job 3)
  awk -v j="$job" -v ws="$ws" -v as="$as" -v wm="$wm" -v am="$am" -v wc="$wc" -v ac="$ac" -v mb="$MB" 'BEGIN {
    printf "%-5s %8.2f %8.2f %10.0f %10.0f %7.2f %10.2f %10.2f %12.1f %12.1f\n", j, ws, as, mb/ws/1e6, mb/as/1e6, ws/as, wc, ac, wm/1024, am/1024 }'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "all runs (wall_s maxrss_KiB cpu_s):"
for f in ward-enc age-enc ward-dec age-dec; do echo "  $f: $(tr '\n' ',' <"$D/$f")"; done
