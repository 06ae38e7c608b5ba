"""docs/architecture.md has a paragraph for every module_utils file, and
every module and action plugin has a unit test file of its own."""

import re

import pytest

from helpers.paths import ROOT

PLUGINS = ROOT / "plugins"
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize("name", sorted(p.name for p in (PLUGINS / "module_utils").glob("_*.py")))
def test_architecture_describes_every_module_utils_file(name):
    assert re.search(r"\*\*`%s`\*\*" % re.escape(name), ARCHITECTURE), "docs/architecture.md: no paragraph on %s" % name


@pytest.mark.parametrize("kind, name", [(kind, p.stem) for kind in ("modules", "action")
                                        for p in sorted((PLUGINS / kind).glob("[!_]*.py"))])
def test_every_module_and_action_plugin_has_unit_tests(kind, name):
    # test_NAME.py, or test_NAME_<more>.py where two tiers' basenames would clash.
    tests = list((ROOT / "tests" / "unit" / "plugins" / kind).glob("test_%s.py" % name)) + \
        list((ROOT / "tests" / "unit" / "plugins" / kind).glob("test_%s_*.py" % name))
    assert tests, "no unit tests for plugins/%s/%s.py in tests/unit/plugins/%s/" % (kind, name, kind)
