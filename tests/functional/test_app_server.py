"""The app server program, run as the unit runs it: one process per port."""

import concurrent.futures
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._app_model import COMMAND_ITEM_RE, COMMAND_VALUE_RE
from helpers.paths import COLLECTIONS, ROOT
from helpers.processes import free_port, start_app_server, wait_for_port


@pytest.fixture(scope="module")
def app():
    proc, port = start_app_server()
    yield port
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def get(port, path="/", headers=None, connection=None):
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read().decode()


def test_page_has_the_port_and_names_the_backend(app):
    response, body = get(app, "/any/path")
    assert response.status == 200
    assert "<h1>%d</h1>" % app in body
    assert response.getheader("X-Backend") == "%s:%d" % (socket.gethostname(), app)


def test_json_when_asked(app):
    response, body = get(app, headers={"Accept": "application/json"})
    data = json.loads(body)
    assert response.getheader("Content-Type") == "application/json"
    assert data["port"] == app and data["host"] == socket.gethostname() and data["time"]


def test_healthz(app):
    response, body = get(app, "/healthz")
    assert (response.status, body) == (200, "ok\n")


def test_no_version_header_without_a_label(app):
    assert get(app)[0].getheader("X-App-Version") is None


def test_version_label_and_health_path():
    proc, port = start_app_server("--app-version=2.1-rc1", "--health-path=/ready/now")
    try:
        response, body = get(port, "/ready/now")
        assert (response.status, body, response.getheader("X-App-Version")) == (200, "ok\n", "2.1-rc1")
        response, body = get(port, "/healthz")
        assert response.status == 200 and "<h1>%d</h1>" % port in body  # the page now, not the health answer
        assert get(port, "/ready/now?probe=1")[0].status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.mark.parametrize("argument", ["--app-version=v 2", "--app-version=v2\nX-Evil: 1", "--app-version=-v",
                                      "--health-path=healthz", "--health-path=/a b", "--health-path=/a\n",
                                      "--health-path=/a?b"])
def test_version_and_health_path_outside_the_allow_list_are_refused(argument):
    done = subprocess.run([sys.executable, str(ROOT / "roles/app_servers/files/app_server.py"), "--port", "1",
                           argument], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert argument.split("=")[0] + " must match" in done.stderr


@pytest.mark.parametrize("host_header", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_reflected_host_is_escaped(app, host_header):
    dummy, body = get(app, headers={"Host": host_header})
    assert host_header not in body
    assert "&lt;" in body and "<script>" not in body and "<img" not in body


def test_keep_alive_serves_many_requests_on_one_connection(app):
    conn = http.client.HTTPConnection("127.0.0.1", app, timeout=5)
    conn.connect()
    local = conn.sock.getsockname()
    for dummy in range(20):
        response, dummy = get(app, connection=conn)
        assert response.status == 200 and not response.will_close
    assert conn.sock.getsockname() == local


def test_concurrent_requests_all_succeed(app):
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda _: get(app)[0].status, range(200)))
    assert statuses == [200] * 200


def test_latency_option_delays_responses():
    proc, port = start_app_server("--latency-ms", "150")
    try:
        started = time.perf_counter()
        get(port)
        assert time.perf_counter() - started >= 0.15
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_sigterm_stops_cleanly():
    proc, port = start_app_server()
    get(port)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert "stopped" in proc.stdout.read()


# ------------------------------------------------ the unit and its settings

RENDER_PLAYBOOK = """
- name: Render the app server unit and one instance's settings, as the role does
  hosts: localhost
  gather_facts: true
  gather_subset: [min, network]
  vars:
    render_role: "{{ lookup('ansible.builtin.env', 'ANSIBLE_COLLECTIONS_PATH') }}/ansible_collections/edgeops/nginx_lb/roles/app_servers"
  tasks:
    - name: Load the role's defaults, as the role would
      ansible.builtin.include_vars: "{{ render_role }}/defaults/main.yml"
    - name: Check the arguments against the role's main entry point
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ (lookup('ansible.builtin.file', render_role ~ '/meta/argument_specs.yml') | from_yaml).argument_specs.main.options }}"
    - name: Preflight
      ansible.builtin.include_role:
        name: edgeops.nginx_lb.app_servers
        tasks_from: preflight
    - name: Render the unit
      ansible.builtin.template:
        src: "{{ render_role }}/templates/app-server@.service.j2"
        dest: "{{ out }}/app-server@.service"
        mode: "0644"
    - name: Render the settings of 7001
      ansible.builtin.template:
        src: "{{ render_role }}/templates/instance.env.j2"
        dest: "{{ out }}/7001.env"
        mode: "0644"
      vars:
        app_servers_port: 7001
"""


def render_unit(tmp_path, lb_hosts=("lb1",), **role_vars):
    """(playbook process, unit text or None, settings text or None) for these role variables."""
    python = sys.executable
    local = {"ansible_connection": "local", "ansible_python_interpreter": python}
    inventory = {"all": {"hosts": {"localhost": local}, "children": {
        "app": {"hosts": {"localhost": {}}},
        "lb": {"hosts": {name: local for name in lb_hosts}}}}}
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "render.yml").write_text(RENDER_PLAYBOOK)
    (tmp_path / "vars.json").write_text(json.dumps(role_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(Path(python).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
                           str(tmp_path / "render.yml"), "-e", "out=%s" % tmp_path, "-e", "@%s" % (tmp_path / "vars.json")],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    unit, settings = tmp_path / "app-server@.service", tmp_path / "7001.env"
    return (proc, unit.read_text() if unit.exists() else None, settings.read_text() if settings.exists() else None)


def directive(unit, name):
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(name + "=")]


@pytest.fixture(scope="module")
def default_unit(tmp_path_factory):
    proc, unit, settings = render_unit(tmp_path_factory.mktemp("unit"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return unit, settings


def test_unit_has_ceilings_and_an_ip_allow_list(default_unit):
    unit, dummy = default_unit
    assert directive(unit, "LimitNOFILE") == ["65536"]
    assert directive(unit, "MemoryMax") == ["128M"]
    assert directive(unit, "TasksMax") == ["32"]
    assert directive(unit, "IPAddressDeny") == ["any"]
    allowed = directive(unit, "IPAddressAllow")[0].split()
    assert {"127.0.0.0/8", "::1/128"} <= set(allowed)
    for address in allowed:  # this host's own addresses, from its facts, are addresses
        ipaddress.ip_network(address, strict=False)


def test_every_setting_is_one_argument(default_unit):
    unit, settings = default_unit
    exec_start = directive(unit, "ExecStart")[0]
    # systemd splits $VAR on whitespace; ${VAR} is always exactly one argument.
    assert not re.search(r"\$(?!\{)", exec_start), exec_start
    # launch.py reads these two from its environment (the settings file) for the command line.
    used = set(re.findall(r"\$\{(\w+)\}", exec_start)) | {"APP_SERVER_BIND", "APP_SERVER_HEALTH_PATH"}
    lines = [line for line in settings.splitlines() if line and not line.startswith("#")]
    assert {line.split("=", 1)[0] for line in lines} == used
    assert all(re.fullmatch(r"\w+=[0-9A-Za-z.:/-]+", line) for line in lines), lines
    values = dict(line.split("=", 1) for line in lines)
    assert exec_start.split()[1:3] == ["/opt/edgeops/current/launch.py", "%i"], exec_start
    args = [re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], word) for word in exec_start.split()[3:]]
    proc, port = start_app_server(*args)  # the program takes what the unit gives it
    try:
        assert get(port, "/healthz")[0].status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_explicit_allowed_networks_replace_the_load_balancers(tmp_path):
    proc, unit, settings = render_unit(tmp_path, app_servers_allowed_networks=["192.0.2.0/24", "2001:db8::7"],
                                       app_servers_bind_address="0.0.0.0", app_servers_memory_max="64M",
                                       app_servers_header_timeout=5, app_servers_idle_timeout=90,
                                       app_servers_max_body=0)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    allowed = directive(unit, "IPAddressAllow")[0].split()
    assert allowed[:2] == ["127.0.0.0/8", "::1/128"] and allowed[-2:] == ["192.0.2.0/24", "2001:db8::7"]
    assert directive(unit, "MemoryMax") == ["64M"]
    assert "APP_SERVER_BIND=0.0.0.0\n" in settings and "APP_SERVER_HEADER_TIMEOUT=5\n" in settings
    assert "APP_SERVER_IDLE_TIMEOUT=90\n" in settings and "APP_SERVER_MAX_BODY=0\n" in settings


# Every rule of the check, one case each, is in
# tests/unit/plugins/module_utils/test__app_model.py; here, that the role
# runs it first: a run with wrong variables names each of them and renders
# nothing, and the inventory's load balancer group reaches it.
@pytest.mark.parametrize("role_vars, messages", [
    ({"app_servers_bind_address": "127.0.0.1\nAPP_SERVER_MAX_BODY=999999999",
      "app_servers_allowed_networks": ["10.0.0.0/8\nIPAddressAllow=any"], "app_servers_memory_max": "128M\nMemoryMax=infinity",
      "app_servers_header_timeout": 0, "app_servers_version": "../../etc", "app_servers_health_path": "/healthz x",
      "app_servers_command": ["/bin/sh", "-c", "id;id"]},
     ["app_servers_bind_address:", "app_servers_allowed_networks:", "app_servers_memory_max:",
      "app_servers_header_timeout:", "app_servers_version:", "app_servers_health_path:", "app_servers_command:"]),
    ({"app_servers_bind_address": "0.0.0.0", "app_servers_lb_group": "nowhere",
      "app_servers_program": "/nonexistent/app.py", "app_servers_command": ["{release}/app.py"]},
     ["app_servers_allowed_networks: it is empty and inventory group 'nowhere'", "has no hosts",
      "app_servers_program:"]),
])
def test_input_that_would_inject_is_refused(tmp_path, role_vars, messages):
    proc, unit, settings = render_unit(tmp_path, **role_vars)
    assert proc.returncode != 0 and unit is None and settings is None
    for message in messages:
        assert message in proc.stdout, proc.stdout[-3000:]


def test_unit_sandbox_exposure_offline(default_unit, tmp_path, figure):
    unit, dummy = default_unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    path = tmp_path / "app-server@7001.service"
    path.write_text(unit)
    proc = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(path)], check=False,
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"exposure level .*?: ([\d.]+)", proc.stdout + proc.stderr)
    if found is None:
        pytest.skip("systemd-analyze cannot score a unit offline here: %s" % (proc.stdout + proc.stderr)[-300:])
    figure("systemd-analyze security --offline app-server@7001 exposure", float(found.group(1)))
    assert float(found.group(1)) <= 1.5, proc.stdout


# What the role writes into release.json (release.yml): its allow-lists.
ALLOW = {"item": COMMAND_ITEM_RE, "value": COMMAND_VALUE_RE}


def test_launch_runs_the_release_command_without_a_shell(tmp_path):
    """launch.py in a release directory, as the unit starts it: the tutorial
    command of vars/main.yml, the settings appended, the version served."""
    role = ROOT / "roles" / "app_servers"
    release = tmp_path / "releases" / "2.0"
    release.mkdir(parents=True)
    shutil.copy(role / "files" / "app_server.py", release)
    shutil.copy(role / "files" / "launch.py", release)
    (tmp_path / "current").symlink_to("releases/2.0")
    command = yaml.safe_load((role / "vars" / "main.yml").read_text())["app_servers_tutorial_command"]
    described = {"version": "2.0", "command": command, "settings": True, "allow": ALLOW}
    (release / "release.json").write_text(json.dumps(described))
    port = free_port()
    env = dict(os.environ, APP_SERVER_BIND="127.0.0.1", APP_SERVER_HEALTH_PATH="/up")
    proc = subprocess.Popen([sys.executable, str(tmp_path / "current" / "launch.py"), str(port), "--latency-ms=0",
                             "--max-body=10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for_port(port), proc.stdout.read() if proc.poll() is not None else "not listening"
        response, body = get(port, "/up")
        assert (response.status, body, response.getheader("X-App-Version")) == (200, "ok\n", "2.0")
        with open("/proc/%d/cmdline" % proc.pid) as handle:  # exec'd: the app itself, no launcher in between
            argv = handle.read().split("\0")[:-1]
        assert argv[1:] == [str(release / "app_server.py"), "--port=%d" % port, "--bind=127.0.0.1",
                            "--app-version=2.0", "--health-path=/up", "--latency-ms=0", "--max-body=10"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_launch_refuses_a_release_command_outside_the_allow_list(tmp_path):
    shutil.copy(ROOT / "roles" / "app_servers" / "files" / "launch.py", tmp_path)
    described = {"version": "1", "command": ["/bin/sh", "-c", "id; id"], "allow": ALLOW}
    (tmp_path / "release.json").write_text(json.dumps(described))
    done = subprocess.run([sys.executable, str(tmp_path / "launch.py"), "7001"], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 2 and "command item 'id; id' is not allowed" in done.stderr, done.stderr
