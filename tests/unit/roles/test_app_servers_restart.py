"""Which app server instances the role restarts after a new program, unit
or settings (tasks/service.yml, "Restart only the instances that serve
now"): only those running before the play, so a first deploy restarts none
and waits for no app_servers_restart_pause. The task's own expression,
rendered by Ansible's templar with systemd's answers as they come back."""

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_info import parse_units
from helpers.ansible_compat import trust_as_template
from helpers.paths import ROLES

TASK = "Restart only the instances that serve now"
WANTS = "/etc/systemd/system/multi-user.target.wants/app-server@%d.service"


def restart_ports(changed, enabled, units):
    """app_servers_restart_ports after the task, for the ports whose program,
    unit or settings changed (None: nothing notified), the enabled instances
    and `systemctl list-units --plain --no-legend` lines."""
    with open(ROLES / "app_servers" / "tasks" / "service.yml") as handle:
        task = [t for t in yaml.safe_load(handle) if t.get("name") == TASK][0]
    variables = {
        "app_servers_service_name": "app-server",
        "app_servers_enabled_units": {"files": [{"path": WANTS % port} for port in enabled]},
        "app_servers_loaded_units": parse_units("".join(line + "\n" for line in units)),
    }
    # The task's own vars (the ports running now), rendered as Ansible would.
    variables.update({name: trust_as_template(value) for name, value in task["vars"].items()})
    if changed is not None:
        variables["app_servers_restart_ports"] = changed
    expression = task["ansible.builtin.set_fact"]["app_servers_restart_ports"]
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def unit(port, state="active running"):
    return "app-server@%d.service loaded %s edgeops.nginx_lb tutorial app server on port %d" % (port, state, port)


@pytest.mark.parametrize("changed, enabled, units, restarted", [
    # A first deploy: nothing runs yet; the start task starts all with the new program.
    ([7001, 7002, 7003], [], [], []),
    # A live host with a new program: every instance, in port order.
    ([7001, 7002, 7003], [7001, 7002, 7003], [unit(7003), unit(7001), unit(7002)], [7001, 7002, 7003]),
    # New settings of one instance only.
    ([7002], [7001, 7002, 7003], [unit(7001), unit(7002), unit(7003)], [7002]),
    # A new port joins a live host: it starts with the new program, the others restart.
    ([7001, 7002, 7003, 7004], [7001, 7002, 7003], [unit(7001), unit(7002), unit(7003)], [7001, 7002, 7003]),
    # Failed or stopped instances serve nothing: the start task starts them.
    ([7001, 7002, 7003], [7001, 7002, 7003], [unit(7001), unit(7002, "failed failed"), unit(7003, "inactive dead")],
     [7001]),
    # Running but not enabled (started by hand) still serves the old program.
    ([7001, 7002], [7001], [unit(7001), unit(7002)], [7001, 7002]),
    # Another service's instance is no app server; a port is not a prefix of another.
    ([7001], [7001], ["other@7001.service loaded active running x", unit(70011)], []),
    # Nothing changed: nothing notified, nothing to restart.
    (None, [7001], [unit(7001)], []),
], ids=["first-deploy", "new-program", "one-setting", "port-added", "failed-stopped", "running-not-enabled",
        "other-units", "nothing-changed"])
def test_only_running_instances_restart(changed, enabled, units, restarted):
    assert restart_ports(changed, enabled, units) == restarted


CHOOSE = "Choose the instances to restart"


def chosen_ports(changed_paths, program_copied=False):
    """app_servers_restart_ports as tasks/install.yml chooses it from what the
    host_files run (and the copy of a user's program) changed."""
    with open(ROLES / "app_servers" / "tasks" / "install.yml") as handle:
        task = [t for t in yaml.safe_load(handle) if t.get("name") == CHOOSE][0]
    variables = {
        "app_servers_all_ports": [7001, 7002, 7003],
        "app_servers_settings_files": [{"path": "/etc/edgeops/%d.env" % port} for port in (7001, 7002, 7003)],
        "app_servers_files": {"changed_paths": changed_paths},
        "app_servers_program_copy": {"changed": program_copied},
        "app_servers_release_dir": "/opt/edgeops/releases/2",
        "app_servers_install_dir": "/opt/edgeops",
        "app_servers_service_name": "app-server",
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    variables.update({name: [templar.template(trust_as_template(item)) for item in value]
                      for name, value in task["vars"].items()})
    expression = task["ansible.builtin.set_fact"]["app_servers_restart_ports"]
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


@pytest.mark.parametrize("changed_paths, program_copied, restarted", [
    ([], False, []),
    # Directories alone (a new config dir) change no instance.
    (["/opt/edgeops", "/etc/edgeops"], False, []),
    (["/etc/edgeops/7002.env"], False, [7002]),
    (["/etc/edgeops/7003.env", "/etc/edgeops/7001.env"], False, [7001, 7003]),
    (["/opt/edgeops/releases/2/launch.py"], False, [7001, 7002, 7003]),
    (["/opt/edgeops/current"], False, [7001, 7002, 7003]),
    (["/etc/systemd/system/app-server@.service"], False, [7001, 7002, 7003]),
    ([], True, [7001, 7002, 7003]),
    # A settings file of a port that is not one of ours restarts nothing.
    (["/etc/edgeops/70011.env"], False, []),
], ids=["nothing", "directories", "one-setting", "two-settings", "launcher", "current-link", "unit",
        "user-program", "foreign-file"])
def test_what_changed_decides_what_restarts(changed_paths, program_copied, restarted):
    assert chosen_ports(changed_paths, program_copied) == restarted
