#!/usr/bin/env bash
# Installs what walrep needs to build and test on Debian 12, from Debian's packages only.
# Idempotent and quiet when everything is already present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libpq-dev libssl-dev zlib1g-dev libfmt-dev libspdlog-dev libgtest-dev
  libpg-query-dev libprotobuf-c-dev libpcre2-dev
  postgresql-15 postgresql-client-15 python3-psycopg2 openssl clang-format
  clang libclang-rt-14-dev
  iproute2 nftables
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's postgresql-common would create and start a "main" cluster; walrep's tests start
# their own servers, so skip that.
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
