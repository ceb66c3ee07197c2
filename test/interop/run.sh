#!/usr/bin/env bash
# The interop suite: Ward against real peers from Debian packages. Installs what is missing
# (apt-get, as root) and fails loudly when it cannot.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have age || need+=(age)
have openssl || need+=(openssl)
have skopeo || need+=(skopeo)
have docker-registry || need+=(docker-registry)
have htpasswd || need+=(apache2-utils)
have rclone || need+=(rclone)
have gpg || need+=(gnupg)
have ip || need+=(iproute2)
have softhsm2-util || need+=(softhsm2)

if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "interop: missing ${need[*]} and not root; install them: apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "interop: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "interop: apt-get update failed" >&2; exit 1; }
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { echo "interop: apt-get install ${need[*]} failed" >&2; exit 1; }
fi
for cmd in age age-keygen openssl skopeo docker-registry htpasswd rclone gpg gpgconf ip softhsm2-util; do
  have "$cmd" || { echo "interop: $cmd still missing after install" >&2; exit 1; }
done

exec node --test --test-concurrency=1 "test/interop/**/*.interop.ts"
