"""What the load_balancer role records for upstream_server (tasks/record.yml)
must be enough to render its template again: every variable of
upstream.conf.j2 and its includes is the model, ansible_managed or one of
the recorded template_vars; the recorded paths are the ones the module reads."""

import jinja2
import jinja2.meta
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._drain import RECORD_PATHS

from helpers.paths import ROLES

TEMPLATES = ROLES / "load_balancer" / "templates"


def template_variables(name, seen=None):
    seen = set() if seen is None else seen
    env = jinja2.Environment()
    env.filters.update(comment=str, default=str)  # Ansible's filters; only names are read here
    tree = env.parse((TEMPLATES / name).read_text())
    names = set(jinja2.meta.find_undeclared_variables(tree))
    for included in jinja2.meta.find_referenced_templates(tree):
        if included not in seen:
            seen.add(included)
            names |= template_variables(included, seen)
    # Set in upstream.conf.j2 from the model (the loop variables and aliases its includes read).
    return names - {"site", "location", "http", "catch_all"}


def recorded():
    tasks = yaml.safe_load((ROLES / "load_balancer" / "tasks" / "record.yml").read_text())
    record = [t for t in tasks if t.get("name") == "Record the model's inputs"][0]
    return record["vars"]["load_balancer_record_extra"]


def test_every_template_variable_is_recorded():
    extra = recorded()
    assert template_variables("upstream.conf.j2") - {"load_balancer_model", "ansible_managed"} \
        == set(extra["template_vars"])


def test_the_recorded_paths_are_the_ones_the_module_reads():
    assert set(recorded()["paths"]) == set(RECORD_PATHS)
