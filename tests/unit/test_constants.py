"""YAML cannot import plugins/module_utils/_constants.py: every literal copy
of one of its values (a role's defaults and argument spec, a module's
DOCUMENTATION, the role's tasks) must equal it."""

import ast
import re

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _constants

from helpers.paths import ROLES, ROOT


def _documentation(module):
    tree = ast.parse((ROOT / "plugins" / "modules" / ("%s.py" % module)).read_text())
    text = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [target.id for target in node.targets] == ["DOCUMENTATION"])
    return yaml.safe_load(text)


def _load(path):
    return yaml.safe_load((ROLES / path).read_text())


def _role_spec(role, name):
    return _load("%s/meta/argument_specs.yml" % role)["argument_specs"]["main"]["options"][name]


@pytest.mark.parametrize("where, value", [
    ("roles/load_balancer/defaults/main.yml", lambda: _load("load_balancer/defaults/main.yml")["load_balancer_state_dir"]),
    ("roles/load_balancer/meta/argument_specs.yml", lambda: _role_spec("load_balancer", "load_balancer_state_dir")["default"]),
    ("upstream_server's DOCUMENTATION", lambda: _documentation("upstream_server")["options"]["state_dir"]["default"]),
])
def test_every_copy_of_the_state_dir_default_is_the_constant(where, value):
    assert value() == _constants.DEFAULT_STATE_DIR, "%s: state dir default differs from _constants.py" % where


@pytest.mark.parametrize("where, text", [
    ("roles/load_balancer/meta/argument_specs.yml",
     lambda: " ".join(_role_spec("load_balancer", "load_balancer_state_dir")["description"])),
    ("upstream_server's DOCUMENTATION", lambda: " ".join(_documentation("upstream_server")["options"]["state_dir"]["description"])),
])
def test_the_docs_name_the_files_of_the_state_dir(where, text):
    assert "C(%s)" % _constants.RECORD_FILE in text() and "C(%s)" % _constants.STATE_FILE in text(), where


def test_the_role_reads_and_writes_only_the_files_the_constants_name():
    """Each `load_balancer_state_dir` + '/file' in the role's YAML is one of
    the constants' file names, and the role uses both."""
    named = set()
    for path in sorted((ROLES / "load_balancer").rglob("*.yml")):
        named.update(re.findall(r"load_balancer_state_dir\s*(?:\}\}|~\s*')/([A-Za-z0-9_.-]+)", path.read_text()))
    assert named == {_constants.RECORD_FILE, _constants.STATE_FILE}
