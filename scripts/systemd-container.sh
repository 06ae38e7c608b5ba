#!/usr/bin/env bash
# Start a systemd container the way these machines allow it (no --privileged):
#   scripts/systemd-container.sh NAME IMAGE [extra docker run args...]
# and wait until systemd is up. The settings match .config/molecule/config.yml.
set -euo pipefail
name=$1 image=$2
shift 2
if ! docker container inspect "$name" >/dev/null 2>&1; then
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    "$@" "$image" /lib/systemd/systemd >/dev/null
elif [ "$(docker container inspect -f '{{.State.Running}}' "$name")" != true ]; then
  docker start "$name" >/dev/null
fi
for _ in $(seq 1 60); do
  state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
  case "$state" in running|degraded) exit 0 ;; esac
  sleep 1
done
echo "systemd in $name did not come up (state: ${state:-none})" >&2
exit 1
