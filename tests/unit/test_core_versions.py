"""scripts/core-versions.py's pure parts: requires_ansible read as bounds,
the newest release of every minor within them (and the oldest Python the
index serves it to), and the interpreter each gets."""

import importlib.util

import pytest

from helpers.paths import ROOT

_SPEC = importlib.util.spec_from_file_location("core_versions", ROOT / "scripts" / "core-versions.py")
core_versions = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(core_versions)

# {version: the oldest Python the index serves it to}, as ask_index() builds it.
INDEX = {"2.15.13": "3.9", "2.16.0": "3.10", "2.16.19": "3.10", "2.16.3": "3.10", "2.17.14": "3.10",
         "2.18.19": "3.11", "2.19.14": "3.11", "2.20.0": "3.12", "2.20.10": "3.12", "2.21.5": "3.12"}


@pytest.mark.parametrize("spec, bounds", [
    (">=2.16.0", ((2, 16, 0), None, False)),
    (">=2.16", ((2, 16, 0), None, False)),
    (">= 2.16.0, < 2.22", ((2, 16, 0), (2, 22, 0), False)),
    (">=2.16.0,<=2.20.10", ((2, 16, 0), (2, 20, 10), True)),
    ("==2.19.14", ((2, 19, 14), (2, 19, 14), True)),
])
def test_requires_ansible_reads_as_bounds(spec, bounds):
    assert core_versions.parse_requires(spec) == bounds


@pytest.mark.parametrize("spec, words", [
    ("<2.22", "no lower bound"),
    (">=2.16.0,!=2.17.1", "cannot read '!=2.17.1'"),
    ("~=2.16", "cannot read '~=2.16'"),
])
def test_requires_ansible_it_cannot_read_stops_the_script_naming_it(spec, words):
    with pytest.raises(SystemExit, match=words):
        core_versions.parse_requires(spec)


@pytest.mark.parametrize("spec, minors", [
    # The newest patch of each minor by number (2.16.19 beats 2.16.3), from the oldest claimed on.
    (">=2.16.0", {(2, 16): ("2.16.19", "3.10"), (2, 17): ("2.17.14", "3.10"), (2, 18): ("2.18.19", "3.11"),
                  (2, 19): ("2.19.14", "3.11"), (2, 20): ("2.20.10", "3.12"), (2, 21): ("2.21.5", "3.12")}),
    (">=2.18,<2.20", {(2, 18): ("2.18.19", "3.11"), (2, 19): ("2.19.14", "3.11")}),
    # An inclusive upper bound keeps exactly what it names (2.20 is 2.20.0).
    (">=2.20,<=2.20", {(2, 20): ("2.20.0", "3.12")}),
    (">=2.22", {}),
])
def test_the_newest_release_of_every_claimed_minor(spec, minors):
    assert core_versions.newest_per_minor(INDEX, core_versions.parse_requires(spec)) == minors


LOCAL = [("3.11", "/usr/bin/python3"), ("3.10", "/pyenv/3.10/bin/python3"), ("3.12", "/pyenv/3.12/bin/python3")]


@pytest.mark.parametrize("needs, pythons, interpreter", [
    # This machine's python3 first (listed first) when it is new enough.
    ("3.10", LOCAL, "/usr/bin/python3"),
    ("3.11", LOCAL, "/usr/bin/python3"),
    # Else the first (oldest) pyenv Python that is.
    ("3.12", LOCAL, "/pyenv/3.12/bin/python3"),
    # None new enough: the Debian release whose python3 is.
    ("3.13", LOCAL, "container:trixie"),
    ("3.10", [], "container:bookworm"),
    ("3.12", [("3.11", "/usr/bin/python3")], "container:trixie"),
])
def test_each_version_gets_a_python_new_enough(needs, pythons, interpreter, monkeypatch):
    monkeypatch.delenv("CORE_CONTAINER", raising=False)
    assert core_versions.interpreter(needs, pythons) == interpreter


def test_core_container_picks_the_container_on_purpose(monkeypatch):
    monkeypatch.setenv("CORE_CONTAINER", "1")
    assert core_versions.interpreter("3.10", LOCAL) == "container:bookworm"


def test_no_python_at_all_is_a_named_error(monkeypatch):
    monkeypatch.delenv("CORE_CONTAINER", raising=False)
    with pytest.raises(SystemExit, match="no interpreter and no Debian release has Python >= 3.14"):
        core_versions.interpreter("3.14", LOCAL)
