#!/usr/bin/env bash
# `make bench`: one systemd container edgeops-bench (removed at the end, also
# on failure or Ctrl-C), then benchmarks/bench.py measures inside it.
set -euo pipefail
cd "$(dirname "$0")/.."
name=edgeops-bench
image=edgeops-lab/debian-systemd:bookworm
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${ANSIBLE_COLLECTIONS_PATH:-$PWD/.collections}"

# `run.sh --only ssh`: the re-run over SSH, host_files/host_info against
# Ansible's own modules (benchmarks/ssh_rerun.py: its own container).
if [[ "$*" == "--only ssh" ]]; then
  exec python3 benchmarks/ssh_rerun.py
fi

# A container of this name is only ever the benchmark's: a leftover of an
# interrupted run is removed so every run starts from a fresh host.
docker rm -f "$name" >/dev/null 2>&1 || true
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# `run.sh --only scale`: the app host scaling alone (its own containers).
if [[ "$*" != "--only scale" ]]; then
  echo "==> starting $name"
  scripts/systemd-container.sh "$name" "$image"
fi
python3 benchmarks/bench.py "$@"
