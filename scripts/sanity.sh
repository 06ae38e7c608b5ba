#!/usr/bin/env bash
# ansible-test sanity for the collection. ansible-test wants to run from
# .../ansible_collections/edgeops/nginx_lb, so the files git knows (tracked
# and new, not ignored; not the benchmarks, which are not part of the
# collection) are copied into such a tree under a temp dir.
# Its pip bootstrap host (ci-files.testing.ansible.com) is unreachable from
# our machines: scripts/ansible-test-get-pip.py stands in for it.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
venv=.venv-sanity
version=$(grep -E '^ansible-core==' constraints.txt)

if [[ ! -x $venv/bin/ansible-test ]]; then
  $python -m venv $venv
  $venv/bin/pip install -q "$version"
fi

# The bootstrap script ansible-test looks for; the pip version (24.2) follows
# the ansible-core pinned in constraints.txt.
cache=~/.ansible/test/cache
mkdir -p "$cache"
[[ -e $cache/get_pip_24_2.py ]] || cp scripts/ansible-test-get-pip.py "$cache/get_pip_24_2.py"

tree=$(mktemp -d /tmp/edgeops-sanity.XXXXXX)
trap 'rm -rf "$tree"' EXIT
dest=$tree/ansible_collections/edgeops/nginx_lb
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard -- . ":!benchmarks" | xargs -0 -I{} sh -c 'test -e "{}" && cp --parents "{}" "'"$dest"'"'
cd "$dest"
"$OLDPWD/$venv/bin/ansible-test" sanity --local --requirements --python "$($OLDPWD/$venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
