#!/usr/bin/env bash
# The systemd base image of the lab and the Molecule scenarios:
# edgeops-lab/debian-systemd:RELEASE (bookworm, trixie, forky). Built from
# debian:RELEASE when Docker Hub answers, else with debootstrap + docker import.
# forky (Debian's next release, nginx 1.30): Debian 12's debootstrap has no
# script of that name, so it gets the unstable (sid) script and the mirror this
# machine's apt already uses; the mirror's frozen copy of its Release file has
# expired, so the image (only the image, never the role) tells apt not to check
# Valid-Until.
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

# The mirror this machine's apt uses (the first URIs of debian.sources, else the
# first deb line of sources.list): no host name is written into the repository.
apt_mirror() {
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit } $1 == "deb" { print $3; exit }' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { echo "no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2; return 1; }
  echo "$uri"
}

bootstrap_args=("$release")
if [ "$release" = forky ]; then
  bootstrap_args=(forky "" /usr/share/debootstrap/scripts/sid)
  bootstrap_args[1]=$(apt_mirror)
fi

rootfs=$(mktemp -d /var/tmp/edgeops-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include="$packages" "${bootstrap_args[0]}" "$rootfs" "${bootstrap_args[@]:1}" \
  >/var/tmp/debootstrap-"$release".log 2>&1 || {
  tail -20 /var/tmp/debootstrap-"$release".log >&2; exit 1; }
if [ "$release" = forky ]; then
  echo 'Acquire::Check-Valid-Until "false";' >"$rootfs"/etc/apt/apt.conf.d/99edgeops-no-valid-until
fi
tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$image" >/dev/null
echo "==> $image ready"
