"""The ansible-core versions the collection claims, as the package index has them.

From the oldest minor that meta/runtime.yml's `requires_ansible` admits up to
the newest on the index (and below its upper bound, if it has one): the
newest patch of every minor, the oldest controller Python the index serves it
to, and the interpreter this machine runs it with.

The index is asked through pip, as pip is configured here (`pip index
versions` filters by Requires-Python, so asking once per Python version tells
which Python each release needs). The answer is cached in
.cache/core-versions.json and used when the index does not answer.

  python3 scripts/core-versions.py            table: minor, version, python, interpreter
  python3 scripts/core-versions.py --lines    the same, one space-separated line per minor
  python3 scripts/core-versions.py --minors   the minors, oldest first
  python3 scripts/core-versions.py --ends     the oldest and the newest minor
  python3 scripts/core-versions.py --get MINOR   the line of one minor

Interpreter: this machine's python3 (the one on PATH, as `make venv` uses it) when it is new enough, else the oldest
pyenv Python that is ($PYENV_ROOT/versions or ~/.pyenv/versions), else
`container:RELEASE`, the Debian release whose python3 is new enough
(CORE_CONTAINER=1 picks that for every minor, as on a fresh machine).
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "core-versions.json"
CACHE_FRESH_S = 3600
# Controller Pythons to ask the index about (oldest first).
PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
# Debian releases and their python3, for a machine that has no new enough Python.
DEBIAN_PYTHON = (("bookworm", "3.11"), ("trixie", "3.13"))


def vtuple(text):
    """(2, 16, 0) from '2.16': three numbers at least, so 2.16 and 2.16.0 compare equal."""
    numbers = tuple(int(part) for part in text.split("."))
    return numbers + (0,) * (3 - len(numbers))


def parse_requires(spec):
    """(lowest, upper or None, upper inclusive) of a requires_ansible value such as '>=2.16.0,<2.22'."""
    lowest, upper, inclusive = None, None, False
    for clause in spec.split(","):
        match = re.fullmatch(r"\s*(>=|<=|<|==)\s*(\d+(?:\.\d+){0,2})\s*", clause)
        if not match:
            raise SystemExit("meta/runtime.yml: requires_ansible: cannot read %r" % clause)
        operator, version = match.groups()
        if operator in (">=", "=="):
            lowest = vtuple(version)
        if operator in ("<", "<=", "=="):
            upper, inclusive = vtuple(version), operator != "<"
    if lowest is None:
        raise SystemExit("meta/runtime.yml: requires_ansible has no lower bound: %r" % spec)
    return lowest, upper, inclusive


def requires_ansible():
    text = (ROOT / "meta" / "runtime.yml").read_text()
    return parse_requires(re.search(r"^requires_ansible:\s*['\"]?([^'\"\n]+)", text, re.M).group(1))


def newest_per_minor(found, bounds):
    """{(2, 16): (version, oldest Python)}: the newest release of every minor within `bounds` (parse_requires)."""
    lowest, upper, inclusive = bounds
    newest = {}
    for version, python in found.items():
        numbers = vtuple(version)
        if numbers < lowest or (upper and (numbers > upper if inclusive else numbers >= upper)):
            continue
        minor = numbers[:2]
        if minor not in newest or numbers > vtuple(newest[minor][0]):
            newest[minor] = (version, python)
    return newest


def index_versions(python):
    """The ansible-core releases the index serves to `python` (X.Y), or None when it does not answer."""
    proc = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "ansible-core",
                           "--python-version", python, "--only-binary=:all:"],
                          check=False, capture_output=True, text=True, timeout=300)
    match = re.search(r"^Available versions: (.*)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        return None
    return [version.strip() for version in match.group(1).split(",")]


def ask_index():
    with concurrent.futures.ThreadPoolExecutor(len(PYTHONS)) as pool:
        answers = dict(zip(PYTHONS, pool.map(index_versions, PYTHONS)))
    if not any(answers.values()):
        return None
    releases = {}
    for python in PYTHONS:  # oldest first: the first Python that sees a release is the oldest it needs
        for version in answers[python] or ():
            if re.fullmatch(r"\d+\.\d+\.\d+", version):  # final releases only
                releases.setdefault(version, python)
    return releases


def releases(refresh=False):
    """{version: oldest Python}, from the index or, when it does not answer, the cache."""
    if not refresh and CACHE.exists() and time.time() - CACHE.stat().st_mtime < CACHE_FRESH_S:
        return json.loads(CACHE.read_text())
    found = ask_index()
    if found:
        CACHE.parent.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        return found
    if CACHE.exists():
        print("core-versions: the package index did not answer; using %s" % CACHE, file=sys.stderr)
        return json.loads(CACHE.read_text())
    raise SystemExit("core-versions: the package index did not answer and there is no %s" % CACHE)


def python_version(interpreter):
    proc = subprocess.run([interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          check=False, capture_output=True, text=True, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def local_pythons():
    """[(X.Y, path)]: this machine's python3 first, then pyenv's, oldest first."""
    found = []
    system = shutil.which(os.environ.get("PYTHON", "python3"))  # what `make venv` uses
    if system:
        base = "import sys; print(getattr(sys, '_base_executable', sys.executable))"  # not a venv's, not a shim
        proc = subprocess.run([system, "-c", base],
                              check=False, capture_output=True, text=True, timeout=30)
        system = proc.stdout.strip()
    if system and python_version(system):
        found.append((python_version(system), system))
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pyenv_found = []
    for path in glob.glob(os.path.join(pyenv, "versions", "3.*", "bin", "python3")):
        version = python_version(path)
        if version:
            pyenv_found.append((version, path))
    return found + sorted(pyenv_found, key=lambda item: vtuple(item[0]))


def interpreter(needs, pythons):
    if os.environ.get("CORE_CONTAINER"):  # as on a machine without them: the fallback, tried on purpose
        pythons = []
    for version, path in pythons:
        if vtuple(version) >= vtuple(needs):
            return path
    for release, version in DEBIAN_PYTHON:
        if vtuple(version) >= vtuple(needs):
            return "container:" + release
    raise SystemExit("core-versions: no interpreter and no Debian release has Python >= %s" % needs)


def matrix(refresh=False):
    """[(minor, newest patch, oldest Python, interpreter)], oldest minor first."""
    newest = newest_per_minor(releases(refresh), requires_ansible())
    pythons = local_pythons()
    return [("%d.%d" % minor, version, python, interpreter(python, pythons))
            for minor, (version, python) in sorted(newest.items())]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lines", action="store_true", help="one line per minor: minor version python interpreter")
    group.add_argument("--minors", action="store_true", help="the minors, oldest first")
    group.add_argument("--ends", action="store_true", help="the oldest and the newest minor")
    group.add_argument("--get", metavar="MINOR", help="the line of one minor")
    parser.add_argument("--refresh", action="store_true", help="ask the index even if the cache is fresh")
    args = parser.parse_args()
    rows = matrix(args.refresh)
    if not rows:
        raise SystemExit("core-versions: no ansible-core release matches meta/runtime.yml's requires_ansible")
    if args.minors:
        print(" ".join(row[0] for row in rows))
    elif args.ends:
        print(" ".join(sorted({rows[0][0], rows[-1][0]}, key=vtuple)))
    elif args.get:
        wanted = [row for row in rows if row[0] == args.get]
        if not wanted:
            raise SystemExit("core-versions: %s is not in the matrix (%s)" % (args.get, " ".join(r[0] for r in rows)))
        print(" ".join(wanted[0]))
    elif args.lines:
        for row in rows:
            print(" ".join(row))
    else:
        print("%-6s %-9s %-7s %s" % ("minor", "version", "python", "interpreter"))
        for row in rows:
            print("%-6s %-9s %-7s %s" % row)


if __name__ == "__main__":
    main()
