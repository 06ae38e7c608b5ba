"""ansible-doc renders the modules and roles of the installed collection, with
their key options and examples; galaxy.yml and meta/runtime.yml say what
Galaxy needs."""

import json
import re
import tarfile

import pytest
import yaml

from support import ROOT

# (ansible-doc arguments, words the rendered page must contain)
PAGES = [
    (["edgeops.nginx_lb.nginx_validate"], ["content", "path", "fail_on", "nginx_binary", "EXAMPLES", "RETURN"]),
    (["edgeops.nginx_lb.lb_verify"], ["url", "locations", "requests", "clients", "backend_regex", "report",
                                      "fail_on_mismatch", "EXAMPLES", "RETURN"]),
    (["edgeops.nginx_lb.upstream_server"], ["upstream", "server", "host", "state", "drained", "weight", "timeout",
                                            "state_dir", "EXAMPLES", "RETURN"]),
    (["-t", "role", "edgeops.nginx_lb.load_balancer"], ["load_balancer_upstreams", "load_balancer_locations",
                                                        "load_balancer_listen", "load_balancer_conf_path",
                                                        "load_balancer_state_dir"]),
    (["-t", "role", "edgeops.nginx_lb.app_servers"], ["app_servers_ports", "app_servers_bind_address", "app_servers_program",
                                                      "app_servers_command", "app_servers_version",
                                                      "app_servers_health_path"]),
    (["-t", "role", "edgeops.nginx_lb.deploy"], ["deploy_strategy", "deploy_upstreams", "deploy_drain_timeout",
                                                 "deploy_health_timeout", "deploy_rollback_on_failure",
                                                 "deploy_canary_steps", "deploy_canary_error_threshold"]),
    (["-t", "filter", "edgeops.nginx_lb.lb_model"], ["locations", "keepalive", "zone", "EXAMPLES"]),
    (["-t", "filter", "edgeops.nginx_lb.app_model"], ["lb_hosts", "own_addresses", "floating", "EXAMPLES"]),
]


@pytest.mark.parametrize("args, words", PAGES, ids=[page[0][-1].rsplit(".", 1)[1] for page in PAGES])
def test_ansible_doc_renders(galaxy, args, words):
    proc = galaxy.ansible("ansible-doc", *args, timeout=120)
    assert "[WARNING]" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    # The page comes from the installed collection, not from the checkout.
    assert str(galaxy.collections) in proc.stdout.splitlines()[0]
    missing = [w for w in words if not re.search(r"\b%s\b" % re.escape(w), proc.stdout)]
    assert missing == [], "not in the rendered page: %s" % missing


@pytest.fixture(scope="module")
def module_docs(galaxy):
    proc = galaxy.ansible("ansible-doc", "--json", "edgeops.nginx_lb.nginx_validate", "edgeops.nginx_lb.lb_verify",
                          "edgeops.nginx_lb.upstream_server", timeout=120)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("module", ["nginx_validate", "lb_verify", "upstream_server"])
def test_module_examples_are_tasks_of_the_collection(module_docs, module):
    doc = module_docs["edgeops.nginx_lb." + module]
    tasks = yaml.safe_load(doc["examples"])
    assert tasks and all("name" in task for task in tasks)
    called = {key for task in tasks for key in task if "." in key}
    assert "edgeops.nginx_lb." + module in called
    assert called <= {"edgeops.nginx_lb." + module, "ansible.builtin.fetch", "ansible.builtin.debug"}, called
    options = doc["doc"]["options"]
    for task in tasks:
        arguments = task.get("edgeops.nginx_lb." + module) or {}
        assert set(arguments) <= set(options), "unknown option in example %r" % task["name"]
    assert all(option.get("description") for option in options.values())
    assert doc["return"]


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
