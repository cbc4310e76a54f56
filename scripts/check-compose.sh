#!/usr/bin/env bash
# Validates docker-compose.yml with `docker compose config` (or Debian's docker-compose when the
# compose plugin is missing; installed here if need be). Images are not built: that needs a
# Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  exec docker compose -f docker-compose.yml config -q
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "need docker compose or docker-compose to check docker-compose.yml" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
exec docker-compose -f docker-compose.yml config -q
