#!/usr/bin/env bash
# Makes sure a Postgres server answers on 127.0.0.1:5432 for the tests (user postgres, trust
# auth): uses the running one, starts an installed cluster, or installs Debian's postgresql
# (as root) and configures it for local trust. Meant for test machines, not production.
set -euo pipefail

ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
can_login() { psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; }

if ready && can_login; then
  exit 0
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "Postgres is not installed; installing Debian's postgresql..." >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "need root to install postgresql (or start a Postgres on 127.0.0.1:5432 with trust auth)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! ready; then
  echo "starting Postgres $version..." >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
fi
for _ in $(seq 1 30); do ready && break; sleep 1; done

if ! can_login; then
  # A fresh Debian cluster wants passwords over TCP: trust loopback for the test user.
  hba=/etc/postgresql/$version/main/pg_hba.conf
  echo "configuring trust auth on loopback in $hba" >&2
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload >&2
  sleep 1
fi
can_login || { echo "Postgres on 127.0.0.1:5432 does not accept user postgres" >&2; exit 1; }
