#!/usr/bin/env bash
# ansible-test sanity for the collection.
#
#   scripts/sanity.sh          with the ansible-core constraints.txt pins (.venv-sanity)
#   scripts/sanity.sh MINOR [ARGS]  with the newest ansible-core MINOR.x, in .venv-matrix/MINOR
#                              (scripts/core-venv.sh; run by scripts/core-run.sh, in a
#                              container when this machine has no Python new enough);
#                              ARGS go to ansible-test (e.g. --test shebang)
#
# ansible-test wants to run from .../ansible_collections/edgeops/nginx_lb, so
# the files git knows (tracked and new, not ignored; not the benchmarks, which
# are not part of the collection) are copied into such a tree under a temp dir.
# Its pip bootstrap host (ci-files.testing.ansible.com) is unreachable from
# our machines: scripts/ansible-test-get-pip.py stands in for it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [[ ${1:-} == --in-venv ]]; then
  # The inner half: `python` and `ansible-test` are the venv's (first on PATH).
  shift
  minor=$1
  shift
  site=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
  # The bootstrap script ansible-test looks for, named after the pip version
  # this ansible-test bootstraps (23.1.2 for 2.16, 24.2 for 2.18, 25.2 for 2.20, ...).
  cache=~/.ansible/test/cache
  mkdir -p "$cache"
  for pip in $(grep -ohE "pip='[0-9.]+'" "$site/_internal/python_requirements.py" | sort -u | tr -d "pip='"); do
    # Written under a name of its own, then renamed: make sanity runs two of these side by side.
    target=$cache/get_pip_${pip//./_}.py
    [[ -e $target ]] || { cp scripts/ansible-test-get-pip.py "$target.$$" && mv -f "$target.$$" "$target"; }
  done
  # Tests this ansible-core cannot run here, and why (none for most versions).
  skip=()
  [[ ${#skip[@]} -eq 0 ]] && skip=(--color no)
  tree=$(mktemp -d /tmp/edgeops-sanity.XXXXXX)
  trap 'rm -rf "$tree"' EXIT
  dest=$tree/ansible_collections/edgeops/nginx_lb
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard -- . ":!benchmarks" \
    | xargs -0 -I{} sh -c 'test -e "{}" && cp --parents "{}" "'"$dest"'"'
  cd "$dest"
  echo "==> ansible-test sanity: ansible-core $(python -c 'from ansible.release import __version__; print(__version__)'), $(python --version)"
  ansible-test sanity --local --requirements --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    "${skip[@]}" "$@"
  exit 0
fi

minor=${1:-}
if [[ -n $minor ]]; then
  scripts/core-venv.sh "$minor"
  shift
  exec scripts/core-run.sh "$minor" -- scripts/sanity.sh --in-venv "$minor" "$@"
fi

python=${PYTHON:-python3}
venv=.venv-sanity
version=$(grep -E '^ansible-core==' constraints.txt)
if [[ ! -x $venv/bin/ansible-test ]]; then
  $python -m venv $venv
  $venv/bin/pip install -q "$version"
fi
export PATH=$root/$venv/bin:$PATH VIRTUAL_ENV=$root/$venv
exec scripts/sanity.sh --in-venv pinned
