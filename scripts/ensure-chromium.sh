#!/usr/bin/env bash
# Makes sure headless Chromium is installed for the dashboard's browser test: uses the one on
# PATH (or FLASH_CHROMIUM), else installs Debian's chromium (as root). Prints the binary's path.
set -euo pipefail

find_chromium() {
  if [[ -n ${FLASH_CHROMIUM:-} && -x ${FLASH_CHROMIUM} ]]; then
    echo "$FLASH_CHROMIUM"
    return 0
  fi
  command -v chromium || command -v chromium-browser
}

if path=$(find_chromium); then
  echo "$path"
  exit 0
fi

echo "Chromium is not installed; installing Debian's chromium..." >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "need root to install chromium (or set FLASH_CHROMIUM to a Chromium binary)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
find_chromium
