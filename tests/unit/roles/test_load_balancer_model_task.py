"""The role's model task passes the lb_model filter every option the filter
documents: a merge once dropped `resolver=` from it, and every `resolve`
server was then refused for want of a resolver the inventory did set."""

import re

import yaml

from ansible_collections.edgeops.nginx_lb.plugins.filter import lb_model
from helpers.paths import ROLES

MODEL_TASK = ROLES / "load_balancer" / "tasks" / "model.yml"


def test_the_model_task_passes_every_documented_option():
    # _input is what is piped in, locations the first positional argument.
    documented = set(yaml.safe_load(lb_model.DOCUMENTATION)["options"]) - {"_input", "locations"}
    task_text = MODEL_TASK.read_text()
    passed = set(re.findall(r"\b([a-z_]+)=", task_text))
    assert documented - passed == set(), "tasks/model.yml does not pass %s" % sorted(documented - passed)


def test_the_ha_play_runs_only_for_a_floating_address():
    """Inside the role ha_vips always has its default ([]): the play's
    condition must ask for a value, not whether it is defined."""
    site = yaml.safe_load((ROLES.parent / "playbooks" / "site.yml").read_text())
    ha_play = next(play for play in site if any(
        (role.get("role") if isinstance(role, dict) else role) == "edgeops.nginx_lb.ha" for role in play.get("roles", [])))
    condition = next(role["when"] for role in ha_play["roles"] if isinstance(role, dict))
    assert "ha_vips is defined" not in condition and "length > 0" in condition, condition
