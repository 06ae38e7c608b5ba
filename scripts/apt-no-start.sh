#!/usr/bin/env bash
# apt-get install PACKAGES without starting their services (no systemd here:
# Debian's scripts would start them from /etc/init.d). A policy-rc.d that
# answers 101 is Debian's documented way; ours goes away afterwards.
set -euo pipefail
policy=/usr/sbin/policy-rc.d
ours=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  ours=true
fi
trap '$ours && rm -f "$policy"' EXIT
# Another test target may be running apt: wait for its lock rather than fail.
apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
