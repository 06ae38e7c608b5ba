#!/usr/bin/env bash
# The local lab: one systemd container with the app servers and nginx, its
# port 80 published on 127.0.0.1:${LAB_PORT:-8080}.
#   scripts/lab.sh up     converge site.yml and show the distribution
#   scripts/lab.sh down   remove the container
set -euo pipefail
cd "$(dirname "$0")/.."
name=edgeops-lab
port=${LAB_PORT:-8080}
tls_port=${LAB_TLS_PORT:-8443}

case "${1:-up}" in
  up)
    # A lab container of an older version publishes no https port: made anew.
    if docker container inspect "$name" >/dev/null 2>&1 && ! docker port "$name" 443/tcp >/dev/null 2>&1; then
      echo "==> $name publishes no https port: recreating it"
      docker rm -f "$name" >/dev/null
    fi
    scripts/systemd-container.sh "$name" edgeops-lab/debian-systemd:bookworm -p "127.0.0.1:${port}:80" \
      -p "127.0.0.1:${tls_port}:443"
    ansible-playbook -i inventory/lab.yml playbooks/site.yml
    # The lab's own certificate (self-signed: its own CA), to verify https from here.
    ca=$(mktemp)
    trap 'rm -f "$ca"' EXIT
    docker exec "$name" cat /etc/nginx/tls/edgeops_lb.crt >"$ca"
    ansible-playbook scripts/lab-check.yml -e "lab_url=https://127.0.0.1:${tls_port}" -e "lab_ca_file=$ca"
    cat <<MSG

The lab is up. Open the tutorial's pages in a browser and refresh them:
  http://127.0.0.1:${port}/roundrobin   http://127.0.0.1:${port}/leastconn
  http://127.0.0.1:${port}/iphash       http://127.0.0.1:${port}/weighted
  http://127.0.0.1:${port}/proxy
The same over https (a self-signed certificate: the browser warns once):
  https://127.0.0.1:${tls_port}/roundrobin   (curl --cacert: docker exec $name cat /etc/nginx/tls/edgeops_lb.crt)
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
