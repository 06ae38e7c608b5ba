#!/usr/bin/env bash
# The systemd base image of the lab and the Molecule scenarios:
# edgeops-lab/debian-systemd:RELEASE (bookworm, trixie). Built from
# debian:RELEASE when Docker Hub answers, else with debootstrap + docker import.
set -euo pipefail

release=${1:-bookworm}
image=edgeops-lab/debian-systemd:${release}
packages=systemd,systemd-sysv,python3,dbus,iproute2,procps

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

if timeout 60 docker pull "debian:${release}" >/dev/null 2>&1; then
  echo "==> building $image from debian:${release}"
  docker build -q -t "$image" - >/dev/null <<DOCKERFILE
FROM debian:${release}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages//,/ } \
 && rm -rf /var/lib/apt/lists/*
CMD ["/lib/systemd/systemd"]
DOCKERFILE
  exit 0
fi

echo "==> docker pull debian:${release} failed; building $image with debootstrap (about a minute)"
command -v debootstrap >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
rootfs=$(mktemp -d /var/tmp/edgeops-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include="$packages" "$release" "$rootfs" >/var/tmp/debootstrap-"$release".log 2>&1 || {
  tail -20 /var/tmp/debootstrap-"$release".log >&2; exit 1; }
tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
echo "==> $image ready"
