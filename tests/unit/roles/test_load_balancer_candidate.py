"""On a host without nginx the load_balancer role builds its model for the
version the package manager would install (host_info's `candidates`), so a
feature that nginx lacks is a named error in preflight, before install.yml
changes anything (in check mode too). The role's own Jinja is rendered here
with the lb_model filter itself behind it: a task that stops passing the
candidate fails these tests. As Ansible runs it on this machine:
tests/functional/test_load_balancer_fresh_host.py."""

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.filter.lb_model import lb_model
from helpers.paths import ROLES, role_defaults

ROLE = ROLES / "load_balancer"
STICKY = [{"name": "sticky", "sticky": {"cookie": "srv"}, "servers": [{"address": "127.0.0.1:7001"}]}]
STICKY_LOCATIONS = [{"path": "/sticky", "upstream": "sticky"}]
STATE = "/var/lib/edgeops_nginx_lb/upstream_state.json"


def tasks(name):
    return yaml.safe_load((ROLE / "tasks" / name).read_text())


def task(name, module, title=None):
    return next(t for t in tasks(name) if module in t and title in (None, t["name"]))


def os_vars(family):
    return yaml.safe_load((ROLE / "vars" / ("%s.yml" % family)).read_text())


def environment(captured=None):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["from_yaml"] = yaml.safe_load
    env.globals["lookup"] = lambda plugin, path: (ROLE / "defaults" / "main.yml").read_text()

    def capture(upstreams, locations, **kwargs):
        captured.update(kwargs, upstreams=upstreams, locations=locations)
        return {}

    env.filters["edgeops.nginx_lb.lb_model"] = capture
    return env


def role_vars(family, host, **extra):
    return dict(role_defaults(), **os_vars(family), load_balancer_host=host, groups={}, hostvars={},
                inventory_hostname="lb1", role_path=str(ROLE), ansible_check_mode=False, **extra)


CANDIDATE_TASK = "Ask the package manager which nginx it would install"


def render(value, variables):
    """A task's argument as Ansible templates it (strings and lists of strings)."""
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(variables)


def candidate_question(family, nginx_version):
    """preflight's candidate task for a host whose nginx -v said `nginx_version`:
    its host_info arguments, or None when the task is skipped."""
    question = task("preflight.yml", "edgeops.nginx_lb.host_info", CANDIDATE_TASK)
    variables = role_vars(family, {"nginx_version": nginx_version})
    if render("{{ %s }}" % question["when"], variables) != "True":
        return None
    return {key: render(value, variables) for key, value in question["edgeops.nginx_lb.host_info"].items()}


def filter_kwargs(family, host, candidate=None, **extra):
    """The arguments the model task hands the lb_model filter."""
    set_fact = task("model.yml", "ansible.builtin.set_fact")
    captured = {}
    env = environment(captured)
    variables = role_vars(family, host, load_balancer_nginx_candidate=candidate or {"skipped": True}, **extra)
    for name, value in set_fact.get("vars", {}).items():
        variables[name] = yaml.safe_load(env.from_string(value).render(variables)) if "from_yaml" in value else value
    env.from_string(set_fact["ansible.builtin.set_fact"]["load_balancer_model"]).render(variables)
    return captured


def test_a_debian_host_without_nginx_is_asked_for_the_candidate_of_the_package_the_role_installs():
    assert candidate_question("Debian", None) == {"package_manager": "dpkg", "candidates": ["nginx"]}
    assert os_vars("Debian")["load_balancer_nginx_package"] in os_vars("Debian")["load_balancer_packages"]


def test_a_host_with_nginx_is_not_asked_for_a_candidate():
    # A re-run: nginx -v answered, and apt-cache (about 1.5 s where apt keeps no cache) does not run.
    assert candidate_question("Debian", "1.22.1") is None


def test_redhat_asks_for_no_candidate():
    # No package query there (package_manager ""): the installed nginx's version is asked after the install.
    assert os_vars("RedHat")["load_balancer_package_manager"] == ""
    assert candidate_question("RedHat", None) is None


FRESH = {"nginx_version": None, "content": {STATE: None}}
DEBIAN_12_CANDIDATE = {"changed": False, "candidates": {"nginx": "1.22.1-9+deb12u12"}}


def test_the_model_task_hands_the_candidate_to_the_filter():
    kwargs = filter_kwargs("Debian", FRESH, DEBIAN_12_CANDIDATE)
    assert kwargs["nginx_version"] is None and kwargs["nginx_candidate"] == "1.22.1-9+deb12u12"
    # The candidate task skipped (RedHat, or nginx there): no candidate.
    kwargs = filter_kwargs("RedHat", FRESH)
    assert kwargs["nginx_candidate"] is None


def test_a_fresh_debian_12_host_gets_the_named_error_from_the_model_task():
    kwargs = filter_kwargs("Debian", FRESH, DEBIAN_12_CANDIDATE, load_balancer_upstreams=STICKY,
                           load_balancer_locations=STICKY_LOCATIONS)
    with pytest.raises(AnsibleFilterError) as caught:
        lb_model(kwargs.pop("upstreams"), kwargs.pop("locations"), **kwargs)
    assert "load_balancer_upstreams[0].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host would " \
           "install 1.22.1" in str(caught.value)


def test_the_rebuild_after_install_passes_the_installed_version_over_the_candidate():
    kwargs = filter_kwargs("Debian", FRESH, DEBIAN_12_CANDIDATE, load_balancer_nginx_version="1.30.6",
                           load_balancer_upstreams=STICKY, load_balancer_locations=STICKY_LOCATIONS)
    model = lb_model(kwargs.pop("upstreams"), kwargs.pop("locations"), **kwargs)
    assert model["record"]["nginx_version"] == "1.30.6"


def main_tasks():
    return tasks("main.yml")


def test_the_model_is_built_before_anything_is_installed():
    names = [t.get("ansible.builtin.import_tasks") for t in main_tasks()]
    assert names.index("preflight.yml") < names.index("install.yml")
    preflight = [t["name"] for t in tasks("preflight.yml")]
    model = [t.get("ansible.builtin.import_tasks") for t in tasks("preflight.yml")].index("model.yml")
    assert preflight.index("Ask the host for the upstream state, the packages and the nginx version") \
        < preflight.index(CANDIDATE_TASK) < model


def when(task_name, **variables):
    rebuild = next(t for t in main_tasks() if t["name"] == task_name)
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(
        "{{ %s }}" % rebuild["when"]).render(dict({"ansible_check_mode": False}, **variables))


@pytest.mark.parametrize("host, installed, model_for, check_mode, rebuilt", [
    # Fresh host, candidate 1.22.1, 1.22.1 installed: the preflight model stands.
    (None, "1.22.1", "1.22.1", False, "False"),
    # The candidate was unknown (RedHat, or no lists): the model again for the installed nginx.
    (None, "1.22.1", None, False, "True"),
    # The lists changed between preflight and the install: the installed version wins.
    (None, "1.22.2", "1.22.1", False, "True"),
    # nginx was there: nothing installed, nothing asked.
    ("1.22.1", "1.22.1", "1.22.1", False, "False"),
    # A dry run installs nothing.
    (None, "1.22.1", None, True, "False"),
])
def test_the_model_is_built_again_after_the_install_only_for_another_version(
        host, installed, model_for, check_mode, rebuilt):
    variables = {"load_balancer_host": {"nginx_version": host},
                 "load_balancer_installed_nginx": {"nginx_version": installed},
                 "load_balancer_model": {"record": {"nginx_version": model_for}}, "ansible_check_mode": check_mode}
    assert when("Build the model for the installed nginx", **variables) == rebuilt
    asked = when("Ask the nginx this run installed for its version", **variables)
    assert asked == str(host is None and not check_mode)
