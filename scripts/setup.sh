#!/usr/bin/env bash
# Installs what prs-backup, its demo and its tests need on a fresh Debian machine, then
# builds. Idempotent: packages are installed only when their program is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have /usr/lib/postgresql/15/bin/initdb || need+=(postgresql-15)
have pg_dump || need+=(postgresql-client-15)
have redis-server || need+=(redis-server)
have redis-cli || need+=(redis-tools)
have zstd || need+=(zstd)
have rsync || need+=(rsync)
have gzip || need+=(gzip)
have sudo || have runuser || need+=(util-linux)
# The status page is tested in a real headless browser (playwright-core drives Debian's chromium).
have chromium || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # The package's own cluster and service are not wanted; tests start their own servers.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
