"""A default the documentation states is the default the code has: every
`| variable | default | ... |` table row and every "`name` (default X"
phrase in README.md and docs/*.md is compared with the roles'
defaults/main.yml and the playbooks' `name | default(X)` and play vars."""

import re

import pytest
import yaml

from helpers.paths import ROLES, ROOT

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
NAME = re.compile(r"`([a-z][a-z0-9_]*)`")
LITERAL = re.compile(r"`([^`]+)`")
PLAYBOOK_DEFAULT = re.compile(r"\b([a-z][a-z0-9_]*) \| default\(([^()]*)\)")
PROSE_DEFAULT = re.compile(r"`([a-z][a-z0-9_]*)`\**\s+\(default\s+`?([^`,;)\s]+)`?[,;)]")
ROLE_PREFIXES = tuple(p.name + "_" for p in ROLES.iterdir() if p.is_dir())


def code_defaults():
    """{variable: default}, from every role's defaults and every playbook's default()."""
    found = {}
    for path in sorted((ROOT / "playbooks").rglob("*.yml")):
        for name, value in PLAYBOOK_DEFAULT.findall(path.read_text()):
            if value and value != "omit":
                found.setdefault(name, set()).add(repr(yaml.safe_load(value)))
        for play in yaml.safe_load(path.read_text()) or []:
            for name, value in (play.get("vars") or {}).items() if isinstance(play, dict) else ():
                if not (isinstance(value, str) and "{{" in value):
                    found.setdefault(name, set()).add(repr(value))
    defaults = {name: {repr(value)} for name, value in _role_defaults().items()}
    return {**found, **defaults}


def _role_defaults():
    merged = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def _expand(names):
    """`load_balancer_ssl_session_cache` / `_timeout`: the second is the first's
    stem with another last word."""
    out = []
    for name in names:
        if name.startswith("_") and out:
            name = out[0].rsplit("_", 1)[0] + name
        out.append(name)
    return out


def documented_defaults():
    """[(where, variable, literal)] for each default the docs state as a literal."""
    rows = []
    for doc in DOCS:
        in_table = False
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            where = "%s:%d" % (doc.relative_to(ROOT), number)
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if len(cells) >= 2 and cells[0] == "variable" and cells[1] == "default":
                in_table = True
                continue
            if not cells:
                in_table = False
            elif in_table and not cells[0].startswith("---"):
                names = _expand(re.findall(r"`(_?[a-z][a-z0-9_]*)`", cells[0]))
                literals = LITERAL.findall(cells[1])
                if len(literals) == len(names) and cells[1].replace(" ", "").replace("/", ",").strip(",") == \
                        ",".join("`%s`" % lit for lit in literals):
                    rows.extend((where, name, literal) for name, literal in zip(names, literals))
                else:
                    rows.extend((where, name, None) for name in names)
            for name, literal in PROSE_DEFAULT.findall(line):
                rows.append((where, name, literal))
    return rows


ROWS = documented_defaults()
CODE = code_defaults()


def test_the_docs_state_defaults():
    """The parser above finds the tables: a format change must not empty this test."""
    assert len([row for row in ROWS if row[2] is not None]) >= 20, ROWS


@pytest.mark.parametrize("where, name, literal", ROWS, ids=["%s %s" % (row[0], row[1]) for row in ROWS])
def test_documented_default_is_the_code_default(where, name, literal):
    if name.startswith(ROLE_PREFIXES):
        assert name in _role_defaults(), "%s: %s is documented but no role has it in defaults/main.yml" % (where, name)
    if literal is None:
        return
    assert name in CODE, "%s: %s is documented with default %s, the code has no default for it" % (where, name, literal)
    assert CODE[name] == {repr(yaml.safe_load(literal))}, \
        "%s: %s is documented as %s, the code says %s" % (where, name, literal, " or ".join(sorted(CODE[name])))
