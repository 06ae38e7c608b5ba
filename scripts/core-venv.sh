#!/usr/bin/env bash
# scripts/core-venv.sh MINOR: the virtualenv .venv-matrix/MINOR with the newest
# ansible-core MINOR.x (scripts/core-versions.py) and what the unit and render
# tests need (pytest, PyYAML, Jinja2, gixy-ng), at the versions constraints.txt pins
# where they fit this ansible-core; `pip freeze` of the result in
# .venv-matrix/MINOR/freeze.txt. Nothing is done when it is there already.
#
# The interpreter is the one core-versions.py names: this machine's python3,
# a pyenv Python, or `container:RELEASE` when no local Python is new enough:
# the venv is then made (and later used, scripts/core-run.sh) inside a
# container of that Debian release, the worktree mounted at the same path.
set -euo pipefail
cd "$(dirname "$0")/.."
minor=${1:?usage: scripts/core-venv.sh MINOR}
read -r minor version _python interpreter <<<"${CORE_LINE:-$(python3 scripts/core-versions.py --get "$minor")}"
venv=.venv-matrix/$minor
[[ $interpreter == container:* || -n ${CORE_IN_CONTAINER:-} ]] && venv=$venv-container

wanted=("ansible-core==$version" pytest PyYAML Jinja2 gixy-ng)
if [[ -e $venv/.installed-$version && $(cat "$venv/.installed-$version") == "${wanted[*]}" ]]; then
  exit 0
fi

if [[ $interpreter == container:* && -z ${CORE_IN_CONTAINER:-} ]]; then
  exec scripts/core-run.sh "$minor" -- env CORE_LINE="$minor $version $_python python3" CORE_IN_CONTAINER=1 \
    scripts/core-venv.sh "$minor"
fi

# pip's configuration here names local indexes that lack most packages: not news.
exec 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
echo "==> $venv: ansible-core $version on $($interpreter --version 2>&1)"
if [[ ! -x $venv/bin/pip ]]; then
  "$interpreter" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
# constraints.txt pins the default venv (ansible-core as pinned there): its
# pins of ansible and of what depends on the ansible-core version are dropped.
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
grep -viE '^(ansible|ansible-core|ansible-compat|ansible-lint|resolvelib)==' constraints.txt >"$pins"
if ! "$venv/bin/pip" install -q "${wanted[@]}" -c "$pins"; then
  echo "==> $venv: the pins of constraints.txt do not fit ansible-core $version; installing without them" >&2
  "$venv/bin/pip" install -q "${wanted[@]}"
fi
"$venv/bin/pip" freeze >"$venv/freeze.txt"
rm -f "$venv"/.installed-*
echo "${wanted[*]}" >"$venv/.installed-$version"
