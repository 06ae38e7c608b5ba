"""ansible-doc renders every module, filter and role of the installed
collection, with every option its source declares and its examples;
galaxy.yml and meta/runtime.yml say what Galaxy needs. The lists come from
the tree: a new module, filter or role is covered without a line here."""

import ast
import json
import re
import tarfile

import pytest
import yaml

from support import ROOT

NS = "edgeops.nginx_lb."


def _doc_strings(path):
    """DOCUMENTATION / EXAMPLES of a plugin file, parsed without importing it."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES"):
                    found[target.id] = node.value.value
    return found


def _plugins(kind):
    """{name: option names} of every plugin of a kind, from its own DOCUMENTATION."""
    plugins = {}
    for path in sorted((ROOT / "plugins" / kind).glob("[!_]*.py")):
        doc = yaml.safe_load(_doc_strings(path)["DOCUMENTATION"])
        plugins[doc.get("name") or doc.get("module")] = set(doc.get("options") or {})
    return plugins


MODULES = _plugins("modules")
FILTERS = _plugins("filter")
ROLES = {path.parent.parent.name: set(yaml.safe_load(path.read_text())["argument_specs"]["main"]["options"])
         for path in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml"))}
KINDS = [("module", MODULES), ("filter", FILTERS), ("role", ROLES)]


def test_the_tree_has_what_the_docs_test_covers():
    """Every module and filter file carries DOCUMENTATION, every role a contract."""
    assert len(MODULES) == len(list((ROOT / "plugins/modules").glob("[!_]*.py"))) >= 5
    assert len(FILTERS) == len(list((ROOT / "plugins/filter").glob("[!_]*.py"))) >= 5
    assert len(ROLES) == len([p for p in (ROOT / "roles").iterdir() if p.is_dir()]) >= 3


@pytest.fixture(scope="module", params=KINDS, ids=[entry[0] for entry in KINDS])
def rendered(request, galaxy):
    """(kind, plugins, text page, json) of all plugins of a kind, two ansible-doc runs."""
    kind, plugins = request.param
    names = [NS + name for name in sorted(plugins)]
    text = galaxy.ansible("ansible-doc", "-t", kind, *names, timeout=180)
    data = galaxy.ansible("ansible-doc", "-t", kind, "--json", *names, timeout=180)
    return kind, plugins, text, json.loads(data.stdout)


def test_ansible_doc_renders_every_page(rendered):
    kind, plugins, proc, dummy = rendered
    assert "[WARNING]" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    # The pages come from the installed collection, not from the checkout.
    assert str(ROOT) not in proc.stdout
    for name in plugins:
        assert re.search(r"\b%s\b" % re.escape(NS + name), proc.stdout), "%s %s not rendered" % (kind, name)
    missing = sorted(o for options in plugins.values() for o in options
                     if not re.search(r"\b%s\b" % re.escape(o), proc.stdout))
    assert missing == [], "not in the rendered %s pages: %s" % (kind, missing)


def test_every_option_is_described_and_every_plugin_has_examples(rendered):
    kind, plugins, dummy, pages = rendered
    assert set(pages) == {NS + name for name in plugins}
    for name, page in pages.items():
        if kind == "role":
            options = page["entry_points"]["main"]["options"]
        else:
            options = page["doc"].get("options") or {}
            assert page.get("examples"), "%s has no EXAMPLES" % name
            assert page.get("return"), "%s has no RETURN" % name
        # A doc fragment (ansible.builtin.files) adds options the source does not list.
        assert plugins[name[len(NS):]] <= set(options), name
        assert all(option.get("description") for option in options.values()), name


@pytest.fixture(scope="module")
def module_docs(galaxy):
    proc = galaxy.ansible("ansible-doc", "--json", *[NS + name for name in sorted(MODULES)], timeout=180)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_examples_are_tasks_of_the_collection(module_docs, module):
    doc = module_docs[NS + module]
    tasks = yaml.safe_load(doc["examples"])
    assert tasks and all("name" in task for task in tasks)
    called = {key for task in tasks for key in task if "." in key}
    assert NS + module in called
    assert called <= {NS + module, "ansible.builtin.fetch", "ansible.builtin.debug"}, called
    options = doc["doc"]["options"]
    for task in tasks:
        arguments = task.get(NS + module) or {}
        assert set(arguments) <= set(options), "unknown option in example %r" % task["name"]


def test_lb_verify_documents_report(module_docs):
    doc = module_docs["edgeops.nginx_lb.lb_verify"]
    assert doc["doc"]["options"]["report"]["type"] == "path"
    assert "report" in doc["return"]


@pytest.fixture(scope="module")
def galaxy_yml():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


@pytest.mark.parametrize("field", ["namespace", "name", "version", "readme", "authors", "description", "license",
                                   "repository", "documentation", "issues", "homepage", "tags"])
def test_the_tarball_carries_galaxy_yml(galaxy, galaxy_yml, field):
    """What Galaxy shows comes from the built tarball's MANIFEST.json, not from
    galaxy.yml: each field must be set there, the same, and the readme packed."""
    with tarfile.open(galaxy.tarball) as tarball:
        info = json.load(tarball.extractfile("MANIFEST.json"))["collection_info"]
    assert galaxy_yml.get(field), "galaxy.yml: %s is empty" % field
    assert info[field] == galaxy_yml[field], field
    if field == "readme":
        assert galaxy_yml["readme"] in galaxy.members, galaxy_yml["readme"]


def test_galaxy_yml_values_are_what_galaxy_accepts(galaxy_yml):
    for url in ("repository", "documentation", "issues", "homepage"):
        assert galaxy_yml[url].startswith("https://"), url
    assert isinstance(galaxy_yml["dependencies"], dict)
    assert len(galaxy_yml["tags"]) <= 20
    assert all(re.fullmatch(r"[a-z0-9_]{1,64}", tag) for tag in galaxy_yml["tags"]), galaxy_yml["tags"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", galaxy_yml["version"])
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=")


def test_the_installed_collection_runs_on_this_ansible(galaxy):
    """ansible-galaxy checks requires_ansible at load time: no warning."""
    proc = galaxy.ansible("ansible-doc", "--list", "edgeops.nginx_lb", timeout=120)
    assert "edgeops.nginx_lb.lb_verify" in proc.stdout and "edgeops.nginx_lb.nginx_validate" in proc.stdout
    assert "requires_ansible" not in proc.stderr and "[WARNING]" not in proc.stderr, proc.stderr
