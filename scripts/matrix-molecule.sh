#!/usr/bin/env bash
# scripts/matrix-molecule.sh [MINOR...]: `molecule test -s default` (create,
# the dry run, converge, idempotence, verify, destroy) with ansible-core MINOR
# (default: the oldest and the newest, scripts/core-versions.py --ends):
# .venv-matrix/MINOR's ansible commands first on PATH; molecule, testinfra and the
# collections its docker driver and the scenario use (community.docker,
# ansible.posix, community.crypto: those of .venv's `ansible` package, linked
# into the venv for the run only), from .venv. The docker driver's playbooks
# need the docker SDK in the controller's Python: installed into the venv.
# Under the shared molecule lock. A row per run is added to
# .artifacts/matrix-molecule.md; the log is .artifacts/matrix/MINOR-molecule.log.
# A minor that needs a container (no local Python new enough) is left out:
# molecule there would need Docker in Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [[ $# -gt 0 ]]; then minors=("$@"); else read -r -a minors <<<"$(python3 scripts/core-versions.py --ends)"; fi
mkdir -p .artifacts/matrix
purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])'
bundled=$(.venv/bin/python -c "$purelib")/ansible_collections
failed=0
link=
trap '[[ -n $link && -L $link ]] && rm -f "$link"' EXIT
for minor in "${minors[@]}"; do
  read -r minor version _python interpreter <<<"$(python3 scripts/core-versions.py --get "$minor")"
  if [[ $interpreter == container:* ]]; then
    echo "==> molecule with ansible-core $version: no local Python for it, left out"
    continue
  fi
  scripts/core-venv.sh "$minor"
  venv=$root/.venv-matrix/$minor
  "$venv/bin/pip" install -q docker requests -c constraints.txt 2> >(grep -v "is ignored: it is neither" >&2)
  link=$("$venv/bin/python" -c "$purelib")/ansible_collections
  [[ -e $link ]] && { echo "$link exists: not replacing it" >&2; exit 1; }
  ln -s "$bundled" "$link"
  # Only the venv's ansible commands go first on PATH: the verifier's pytest (testinfra) stays .venv's.
  bin=$venv/ansible-bin
  mkdir -p "$bin"
  for command in "$venv"/bin/ansible*; do ln -sfn "$command" "$bin/"; done
  log=.artifacts/matrix/$minor-molecule.log
  echo "==> molecule test -s default with ansible-core $version ($log)"
  used=$(PATH=$bin:$PATH ansible-playbook --version | sed -n 1p)
  echo "    $used"
  start=$SECONDS
  if PATH=$bin:$root/.venv/bin:$PATH flock /tmp/edgeops-molecule.lock \
      "$root/.venv/bin/molecule" test -s default >"$log" 2>&1; then
    result=passed
  else
    result=FAILED; failed=1
  fi
  rm -f "$link"; link=
  verify=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE '[0-9]+ (passed|failed)[^=]* in [0-9.]+s' | tail -n 1 || true)
  row="| $version | molecule default | $result | ${verify:-no verifier summary} ($used) | $((SECONDS - start)) s |"
  echo "    $row"
  echo "$row" >>.artifacts/matrix-molecule.md
done
exit $failed
