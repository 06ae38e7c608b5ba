"""Helpers of the testinfra verifiers: real HTTP requests sent *inside* the
host under test (loopback only), counted by the backend that answered."""

import json
import os
import re
import subprocess

import yaml

# Runs on the target's python3: N sequential keep-alive GETs, bounded in
# count and time; prints {"X-Backend value": responses, "errors": n}.
_COUNT = r'''
import http.client, json, sys, time
path, n, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts, deadline = {}, time.monotonic() + 60
conn = None
for _ in range(n):
    if time.monotonic() > deadline:
        break
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=5,
                                              source_address=(source, 0) if source != "-" else None)
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        key = r.getheader("X-Backend") if r.status == 200 else "status %d" % r.status
    except Exception as exc:
        key, conn = "error %s" % type(exc).__name__, None
    counts[key] = counts.get(key, 0) + 1
print(json.dumps(counts))
'''


def count_backends(host, path, requests, source="-", by="port"):
    """{port: responses} (or 'status N' / 'error X') for `requests` GETs of
    `path`; by="host" keeps the whole X-Backend `hostname:port`."""
    result = host.run("python3 -c %s %s %d %s" % (_quote(_COUNT), _quote(path), requests, source))
    assert result.rc == 0, result.stderr
    counts = {}
    for key, number in json.loads(result.stdout).items():
        port = key.rsplit(":", 1)[1] if by == "port" and ":" in key and not key.startswith(("status", "error")) else key
        counts[port] = counts.get(port, 0) + number
    return counts


def status(host, path):
    return int(host.check_output("python3 -c %s" % _quote(
        "import http.client as h; c=h.HTTPConnection('127.0.0.1',80,timeout=5); c.request('GET',%r); "
        "print(c.getresponse().status)" % path)))


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_playbook(playbook, extra_vars=None, inventory=None, timeout=600, limit=None, env=None):
    """ansible-playbook `playbook` (a path, or relative to the checkout) on the
    scenario's inventory, from the controller, with `env` added to the
    environment; returns the CompletedProcess (stdout holds stderr too)."""
    command = ["ansible-playbook", "-i", inventory or os.environ["MOLECULE_INVENTORY_FILE"],
               os.path.join(ROOT, playbook)]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    if limit:
        command += ["--limit", limit]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_FORCE_COLOR="0",
               **(env or {}))
    # ansible-core 2.19 prints task errors on stderr: keep them in order with the rest.
    return subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def lb_verify(host, args):
    """lb_verify's result on `host` for `args` (a dict), failed or not
    (ansible-core 2.19's --tree output no longer carries `failed`, so
    testinfra may not raise)."""
    try:
        return host.ansible("edgeops.nginx_lb.lb_verify", json.dumps(args), check=False)
    except host.ansible.AnsibleException as exc:
        return exc.result


def default_upstreams(**replaced_servers):
    """The load_balancer role's default upstreams, with the servers of the
    upstreams named in `replaced_servers` replaced (name=[server, ...])."""
    with open(os.path.join(ROOT, "roles", "load_balancer", "defaults", "main.yml")) as stream:
        upstreams = yaml.safe_load(stream)["load_balancer_upstreams"]
    return [dict(upstream, servers=replaced_servers.get(upstream["name"], upstream["servers"]))
            for upstream in upstreams]


def recap(run):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from a play recap."""
    hosts = {}
    for name, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", run.stdout, re.M):
        hosts[name] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
    return hosts


def docker(*args, stdin=None, timeout=60, check=True):
    """`docker ARGS` on the controller, for the scenario's own containers; its CompletedProcess."""
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, timeout=timeout, **feed)


def docker_exec(name, *argv, stdin=None, timeout=60, check=True):
    """`argv` (no shell) in the container `name`, `stdin` fed to it; its stdout."""
    interactive = ["-i"] if stdin is not None else []
    return docker("exec", *interactive, name, *argv, stdin=stdin, timeout=timeout, check=check).stdout


def docker_sh(name, command, stdin=None, timeout=60, check=True):
    """`command` run by sh -c in the container `name`; its stdout."""
    return docker_exec(name, "sh", "-c", command, stdin=stdin, timeout=timeout, check=check)


def container_address(name):
    """The address of the container `name` on the scenario's network."""
    return docker_exec(name, "hostname", "-i").split()[0]


UPSTREAM_CONF = "/etc/nginx/conf.d/upstream.conf"


def lb_conf(name):
    """The load_balancer role's upstream.conf in the container `name`."""
    return docker_exec(name, "cat", UPSTREAM_CONF)


def upstream_block(conf, name):
    """The lines between `upstream NAME {` and its `}` in upstream.conf's text."""
    found = re.search(r"^upstream %s \{\n(.*?)^\}" % re.escape(name), conf, re.M | re.S)
    assert found, "no upstream %s in:\n%s" % (name, conf)
    return found.group(1)


def upstream_servers(conf, name):
    """{address: the rest of its server line, e.g. " weight=2 down"} of one
    upstream, in the file's order."""
    return dict(re.findall(r"^\s*server (\S+?)((?: [^;]*)?);", upstream_block(conf, name), re.M))
