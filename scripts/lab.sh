#!/usr/bin/env bash
# The local lab: one systemd container with the app servers and nginx, its
# port 80 published on 127.0.0.1:${LAB_PORT:-8080}.
#   scripts/lab.sh up     converge site.yml and show the distribution
#   scripts/lab.sh down   remove the container
set -euo pipefail
cd "$(dirname "$0")/.."
name=edgeops-lab
port=${LAB_PORT:-8080}

case "${1:-up}" in
  up)
    scripts/systemd-container.sh "$name" edgeops-lab/debian-systemd:bookworm -p "127.0.0.1:${port}:80"
    ansible-playbook -i inventory/lab.yml playbooks/site.yml
    cat <<MSG

The lab is up. Open the tutorial's pages in a browser and refresh them:
  http://127.0.0.1:${port}/roundrobin   http://127.0.0.1:${port}/leastconn
  http://127.0.0.1:${port}/iphash       http://127.0.0.1:${port}/weighted
  http://127.0.0.1:${port}/proxy
Re-run: make lab    Remove: make lab-down
MSG
    ;;
  down)
    docker rm -f "$name" >/dev/null 2>&1 || true
    echo "lab removed"
    ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
