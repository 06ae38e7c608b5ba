"""What users install is what we test: the tarball `ansible-galaxy collection
build` makes, installed into a fresh collections path, converges a fresh
systemd container with `ansible-playbook edgeops.nginx_lb.site`."""

import json
import xml.etree.ElementTree as ET

import pytest

from support import BIN, REPORT_ON_HOST

# Development trees that must stay out of the tarball (galaxy.yml build_ignore).
KEPT_OUT = ["tests", "molecule", "benchmarks", ".venv", ".venv-sanity", ".venv-matrix", ".collections", ".artifacts", ".config", ".ci", "scripts",
            ".pytest_cache", ".ansible", ".git", "Makefile", "pytest.ini", "ansible.cfg", "requirements.txt",
            "constraints.txt"]
# What a user needs.
SHIPPED = ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "playbooks/site.yml",
           "plugins/modules/lb_verify.py", "plugins/modules/nginx_validate.py", "plugins/filter/lb_model.py",
           "plugins/module_utils/_report.py", "roles/load_balancer/meta/argument_specs.yml",
           "roles/app_servers/meta/argument_specs.yml", "roles/app_servers/files/app_server.py",
           "docs/images/distribution.png", "inventory/example.yml"]


@pytest.mark.parametrize("tree", KEPT_OUT)
def test_development_trees_stay_out_of_the_tarball(galaxy, tree):
    inside = [m for m in galaxy.members if m.rstrip("/") == tree or m.startswith(tree + "/")]
    assert inside == [], "%s is in %s" % (tree, galaxy.tarball.name)


def test_no_bytecode_or_nested_tarballs(galaxy):
    assert [m for m in galaxy.members if "__pycache__" in m or m.endswith((".pyc", ".tar.gz"))] == []


@pytest.mark.parametrize("member", SHIPPED)
def test_tarball_ships(galaxy, member):
    assert member in galaxy.members


def test_only_the_installed_collection_is_visible(galaxy, figure):
    """edgeops.nginx_lb from the fresh path only; community.docker (the lab's
    connection) from the `ansible` package in the venv's site-packages."""
    listed = json.loads(galaxy.ansible("ansible-galaxy", "collection", "list", "--format", "json", timeout=120).stdout)
    where = {name: path for path, found in listed.items() for name in found}
    assert where["edgeops.nginx_lb"] == str(galaxy.collections / "ansible_collections")
    assert [p for p, found in listed.items() if "edgeops.nginx_lb" in found] == [where["edgeops.nginx_lb"]]
    assert where["community.docker"].startswith(str(BIN.parent / "lib"))
    assert where["community.docker"].endswith("site-packages/ansible_collections")
    manifest = galaxy.collections / "ansible_collections/edgeops/nginx_lb/MANIFEST.json"
    assert json.loads(manifest.read_text())["collection_info"]["version"] == listed[where["edgeops.nginx_lb"]][
        "edgeops.nginx_lb"]["version"]
    figure("tarball", "%d members, %d kB, build %.1f s, install %.1f s" % (
        len(galaxy.members), galaxy.tarball.stat().st_size // 1024, galaxy.seconds["build"],
        galaxy.seconds["install"]))


def test_site_converges_the_lab_and_lb_verify_passes(converged, lab, figure):
    assert converged.stats[lab.name]["failures"] == 0 and converged.stats[lab.name]["unreachable"] == 0
    verify = converged.tasks["Count the backends that answer each location"][lab.name]
    assert verify["passed"] is True, verify.get("msg")
    paths = [location["path"] for location in verify["locations"]]
    assert paths == ["/proxy", "/roundrobin", "/leastconn", "/iphash", "/weighted"]
    weighted = verify["locations"][-1]
    assert sorted(weighted["counts"].values()) == [30, 30, 60] and weighted["counts"] == weighted["expected"]
    assert verify["report"] == REPORT_ON_HOST
    figure("site.yml from the tarball", "%.0f s, %d tasks changed" % (
        converged.seconds, converged.stats[lab.name]["changed"]))
    for line in verify["table"]:
        figure("distribution", line)


def test_the_report_from_the_lab_is_one_chart_per_location(converged, artifacts):
    page = (artifacts / "distribution.html").read_text()
    root = ET.fromstring(page.split("\n", 1)[1])
    assert len(root.findall(".//{http://www.w3.org/2000/svg}svg")) == 5
    assert "5 of 5 locations as expected" in "".join(root.itertext())
