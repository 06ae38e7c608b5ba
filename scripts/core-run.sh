#!/usr/bin/env bash
# scripts/core-run.sh MINOR -- COMMAND...: COMMAND with .venv-matrix/MINOR
# first on PATH (VIRTUAL_ENV set), from the checkout's root. When
# core-versions.py names `container:RELEASE` (no local Python is new enough),
# COMMAND runs in a throwaway container of that Debian release
# (edgeops-lab/matrix:RELEASE, built here from edgeops-lab/debian-systemd:RELEASE,
# `make images`, with python3-venv, git and nginx-light), the worktree and its
# collection link mounted at the same paths.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
minor=${1:?usage: scripts/core-run.sh MINOR -- COMMAND...}
shift
[[ ${1:-} == -- ]] && shift
read -r minor _version _python interpreter <<<"${CORE_LINE:-$(python3 scripts/core-versions.py --get "$minor")}"
venv=$root/.venv-matrix/$minor
[[ $interpreter == container:* || -n ${CORE_IN_CONTAINER:-} ]] && venv=$venv-container

if [[ $interpreter != container:* || -n ${CORE_IN_CONTAINER:-} ]]; then
  export VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$root/.collections
  exec "$@"
fi

release=${interpreter#container:}
image=edgeops-lab/matrix:$release
if ! docker image inspect "$image" >/dev/null 2>&1; then
  scripts/base-image.sh "$release"
  echo "==> building $image"
  docker build -q -t "$image" - >/dev/null <<DOCKERFILE
FROM edgeops-lab/debian-systemd:$release
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    python3-venv git nginx-light libnginx-mod-stream ca-certificates \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
fi
name=edgeops-matrix-$minor-$$
# pip as configured here, and the CA bundle this machine trusts (its index may sit behind a proxy of its own).
pipconf=()
for path in /etc/pip.conf /etc/xdg/pip /etc/ssl/certs/ca-certificates.crt; do
  [[ -e $path ]] && pipconf+=(-v "$path:$path:ro")
done
# The collection link (.collections/.../nginx_lb) may point elsewhere (a worktree's own path): mount it too.
link=$(readlink -f .collections/ansible_collections/edgeops/nginx_lb 2>/dev/null || echo "$root")
mounts=(-v "$root:$root")
[[ $link != "$root" ]] && mounts+=(-v "$link:$link")
# A worktree's git directory lives in the main checkout's: git ls-files (sanity.sh) needs it.
common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
[[ -n $common && $common != "$root"/* ]] && mounts+=(-v "$common:$common")
exec docker run --rm --name "$name" --network host "${mounts[@]}" -w "$root" \
  -e CORE_IN_CONTAINER=1 -e CORE_LINE="$minor $_version $_python python3" -e HOME=/root \
  "${pipconf[@]}" \
  "$image" scripts/core-run.sh "$minor" -- "$@"
