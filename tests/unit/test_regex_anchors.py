"""Every pattern the collection compiles or matches is anchored with \\A and
\\Z: `$` also matches before a trailing newline, so `^name$` lets
"name\\n" through to a config file or a command line. The test reads the
source (the AST, so a pattern split over lines or kept in a constant is
seen) and names each file:line that still uses ^ or $ as an anchor."""

import ast
import re

import pytest

from helpers.paths import COLLECTION_LINK

SOURCES = ("plugins/module_utils/*.py", "plugins/modules/*.py", "plugins/filter/*.py", "roles/*/files/*.py")
CALLS = {"compile", "match", "fullmatch"}


def _constant_strings(tree):
    """Module-level NAME = "pattern" assignments (a pattern is often kept in one)."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node.value.value
    return names


def _pattern_text(node, names):
    """The pattern's text as far as it is known in the source: a literal, a
    constant's value, or an f-string's literal parts (its fields as '{}')."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _pattern_text(node.left, names), _pattern_text(node.right, names)
        return None if left is None or right is None else left + right
    return None


def _is_multiline(call):
    """re.M / re.MULTILINE asks for ^ and $ at every line: a deliberate use."""
    # re.compile(pattern, flags); re.match(pattern, string, flags)
    position = 1 if call.func.attr == "compile" else 2
    flags = call.args[position:position + 1] + [keyword.value for keyword in call.keywords if keyword.arg == "flags"]
    return any(isinstance(sub, ast.Attribute) and sub.attr in ("M", "MULTILINE")
               for flag in flags for sub in ast.walk(flag))


def unanchored(pattern):
    """Why `pattern` is anchored with ^ or $ rather than \\A and \\Z, or None."""
    if pattern.startswith("^"):
        return "starts with ^ (use \\A)"
    trailing = re.search(r"(\\*)\$\Z", pattern)
    if trailing and len(trailing.group(1)) % 2 == 0:
        return "ends with $ (use \\Z)"
    return None


def hits(path, root=COLLECTION_LINK):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    names = _constant_strings(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CALLS
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args):
            continue
        pattern = _pattern_text(node.args[0], names)
        why = pattern is not None and not _is_multiline(node) and unanchored(pattern)
        if why:
            found.append("%s:%d: re.%s %s: %r" % (path.relative_to(root), node.lineno, node.func.attr,
                                                  why, pattern[:60]))
    return found


def _files():
    return sorted(path for pattern in SOURCES for path in COLLECTION_LINK.glob(pattern))


@pytest.mark.parametrize("pattern, why", [
    (r"^[a-z]+$", "starts with ^"),
    (r"[a-z]+$", "ends with $"),
    (r"[a-z]+\\$", "ends with $"),
    (r"\A[a-z]+\Z", None),
    (r"\A[a-z]+\$\Z", None),
    (r"\A[a-z]+\$", None),
    (r"\A(?:x|y)\Z", None),
])
def test_the_scan_tells_an_anchor_from_an_escaped_dollar(pattern, why):
    found = unanchored(pattern)
    if why is None:
        assert found is None
    else:
        assert why in found


def test_the_scan_finds_a_split_pattern_a_constant_and_ignores_multiline(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('import re\nNAME = r"^[a-z]+"\nA = re.compile(\n    r"[a-z]"\n    r"+$")\n'
                      'B = re.match(NAME, "x")\nC = re.compile(r"^x$", re.M)\nD = re.compile(r"\\Ax\\Z")\n')
    assert [line.split(":")[:2] for line in hits(sample, root=tmp_path)] == [["sample.py", "3"], ["sample.py", "6"]]


@pytest.mark.parametrize("pattern", SOURCES)
def test_every_kind_of_source_is_scanned(pattern):
    assert list(COLLECTION_LINK.glob(pattern)), "no file matches %s: the scan would pass on nothing" % pattern


@pytest.mark.parametrize("path", _files(), ids=lambda path: str(path.relative_to(COLLECTION_LINK)))
def test_patterns_are_anchored_with_A_and_Z(path):
    found = hits(path)
    assert not found, "\n".join(found)
