"""Wrong input for both roles: every case must fail before anything on the
host changes (checksums of the nginx config, the unit files, the program
and the instance settings; the nginx worker PIDs, which a reload renews),
with a message that names the wrong field."""

import json

import pytest
import yaml

from lbcheck import run_playbook

RR = {"name": "roundrobin", "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"}]}
LOC = [{"path": "/roundrobin", "upstream": "roundrobin"}]


def lb(upstreams, locations=None, **more):
    return "load_balancer", dict(load_balancer_upstreams=upstreams, load_balancer_locations=locations or LOC, **more)


def server(**fields):
    return dict(RR, servers=[dict({"address": "127.0.0.1:7001"}, **fields)])


def backup_with(method, **more):
    return dict(RR, method=method, servers=RR["servers"] + [{"address": "127.0.0.1:7003", "backup": True}], **more)


# (case, (role, variables), what the message must name)
CASES = [
    ("weight 0", lb([server(weight=0)]), "load_balancer_upstreams[0].servers[0].weight"),
    ("weight not a number", lb([server(weight="heavy")]), "weight"),
    ("weight too high", lb([server(weight=5000)]), "load_balancer_upstreams[0].servers[0].weight"),
    ("port out of range", lb([dict(RR, servers=[{"address": "127.0.0.1:70000"}])]), "load_balancer_upstreams[0].servers[0].address"),
    ("address without port", lb([dict(RR, servers=[{"address": "127.0.0.1"}])]), "load_balancer_upstreams[0].servers[0].address"),
    ("address with a space", lb([dict(RR, servers=[{"address": "bad host:7001"}])]), "load_balancer_upstreams[0].servers[0].address"),
    ("unknown server key", lb([server(wieght=2)]), "wieght"),
    ("unknown upstream key", lb([dict(RR, metod="least_conn")]), "metod"),
    ("unknown method", lb([dict(RR, method="fastest")]), "method"),
    ("negative max_fails", lb([server(max_fails=-1)]), "load_balancer_upstreams[0].servers[0].max_fails"),
    ("location without leading slash", lb([RR], [{"path": "roundrobin", "upstream": "roundrobin"}]), "load_balancer_locations[0].path"),
    ("location to an undefined upstream", lb([RR], [{"path": "/x", "upstream": "nowhere"}]), "load_balancer_locations[0].upstream"),
    ("duplicate upstream names", lb([RR, RR]), "load_balancer_upstreams[1].name"),
    ("duplicate location paths", lb([RR], LOC + LOC), "load_balancer_locations[1].path"),
    ("empty server list", lb([dict(RR, servers=[])]), "load_balancer_upstreams[0].servers"),
    ("upstream without servers or group", lb([{"name": "roundrobin"}]), "load_balancer_upstreams[0]"),
    ("backup with ip_hash", lb([backup_with("ip_hash")]), "load_balancer_upstreams[0].servers[2].backup"),
    ("backup with hash", lb([backup_with("hash", hash_key="$request_uri")]), "load_balancer_upstreams[0].servers[2].backup"),
    ("backup with random", lb([backup_with("random")]), "load_balancer_upstreams[0].servers[2].backup"),
    ("hash without hash_key", lb([dict(RR, method="hash")]), "load_balancer_upstreams[0].hash_key"),
    ("upstreams not a list", lb("roundrobin"), "load_balancer_upstreams"),
    ("listen port out of range", lb([RR], load_balancer_listen="70000"), "load_balancer_listen"),
    ("group that does not exist", lb([{"name": "roundrobin", "group": "nosuchgroup"}]), "load_balancer_upstreams[0].group"),
    # Debian 12's nginx 1.22 has no sticky sessions (nginx >= 1.29.6): named with both versions.
    ("sticky on nginx 1.22", lb([dict(RR, sticky={"cookie": "srv"})]),
     "load_balancer_upstreams[0].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has 1.22.1"),
    ("app port below 1024", ("app_servers", {"app_servers_ports": [80]}), "app_servers_ports"),
    ("app port not a number", ("app_servers", {"app_servers_ports": ["http"]}), "app_servers_ports"),
    ("duplicate app ports", ("app_servers", {"app_servers_ports": [7001, 7001]}), "app_servers_ports"),
    ("latency for a port not deployed", ("app_servers", {"app_servers_latency_ms": {7009: 50}}), "app_servers_latency_ms"),
    ("negative latency", ("app_servers", {"app_servers_latency_ms": {7001: -5}}), "app_servers_latency_ms"),
    ("app weight 0", ("app_servers", {"app_servers_weight": 0}), "app_servers_weight"),
    ("access_log not a boolean", ("app_servers", {"app_servers_access_log": "loud"}), "app_servers_access_log"),
]

# Everything the two roles write, and the nginx workers (a reload renews them).
DIGEST = ("find /etc/nginx /etc/systemd/system /etc/edgeops /opt/edgeops -type f -print0 | sort -z "
          "| xargs -0 md5sum; ls /etc/nginx/sites-enabled; pgrep -P $(cat /run/nginx.pid) | sort; "
          "systemctl list-units 'app-server@*' --no-legend --plain | awk '{print $1, $4}'")


def playbook():
    """One play: the digest, then every case in its own block whose rescue
    records the failure, then the digest again; results to one JSON file."""
    tasks = [{"name": "Digest before", "ansible.builtin.shell": DIGEST, "register": "digest_before", "changed_when": False}]
    for index, (dummy, (role, variables), dummy) in enumerate(CASES):
        tasks += [
            {"name": "Case %d" % index, "block": [
                {"ansible.builtin.include_role": {"name": "edgeops.nginx_lb." + role}, "vars": variables},
                {"ansible.builtin.set_fact": {"case_%d" % index: "ACCEPTED"}},
            ], "rescue": [
                {"ansible.builtin.set_fact": {"case_%d" % index: "{{ ansible_failed_result.msg | default('') }}"}},
            ]},
            {"ansible.builtin.shell": DIGEST, "register": "digest_%d" % index, "changed_when": False},
        ]
    results = {str(index): {"msg": "{{ case_%d }}" % index, "digest": "{{ digest_%d.stdout }}" % index}
               for index in range(len(CASES))}
    tasks.append({"ansible.builtin.copy": {"content": "{{ results | to_nice_json }}", "dest": "{{ results_path }}"},
                  "vars": {"results": dict(results, before="{{ digest_before.stdout }}")},
                  "delegate_to": "localhost"})
    return [{"name": "Bad input", "hosts": "lb", "gather_facts": True, "tasks": tasks}]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bad_input")
    (workdir / "bad_input.yml").write_text(yaml.safe_dump(playbook(), sort_keys=False))
    results_path = workdir / "results.json"
    run = run_playbook(str(workdir / "bad_input.yml"), {"results_path": str(results_path)})
    assert run.returncode == 0, run.stdout[-4000:]
    return json.loads(results_path.read_text())


# What the roles write on this host (the scenario's defaults), each of which
# the digest must hold: "changes nothing" means nothing only if it does.
WRITTEN = ["/etc/nginx/conf.d/upstream.conf", "/etc/systemd/system/app-server@.service", "/opt/edgeops/releases/1/app_server.py",
           "/opt/edgeops/releases/1/release.json"] \
    + ["/etc/edgeops/app-server/%d.env" % port for port in (7001, 7002, 7003)]


def test_the_digest_sees_what_the_roles_write(outcomes, figure):
    """An empty or blind digest (a command that fails, a path that moved)
    would make every case's "changed nothing" pass unseen."""
    before = outcomes["before"]
    checksummed = {line.split(None, 1)[1] for line in before.splitlines()
                   if len(line.split(None, 1)) == 2 and len(line.split()[0]) == 32}
    assert set(WRITTEN) <= checksummed, before
    for port in (7001, 7002, 7003):
        assert "app-server@%d.service running" % port in before, before
    workers = [line for line in before.splitlines() if line.isdigit()]
    assert workers, "no nginx worker PID in the digest: a reload would go unseen\n" + before
    behaved = [name for index, (name, dummy, field) in enumerate(CASES)
               if outcomes[str(index)]["msg"] != "ACCEPTED" and field in outcomes[str(index)]["msg"]
               and outcomes[str(index)]["digest"] == before]
    figure("bad input cases tried", len(CASES))
    figure("bad input cases that failed early, named the field, changed nothing", len(behaved))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case[0] for case in CASES])
def test_case_fails_naming_the_field_and_changes_nothing(outcomes, index):
    name, dummy, field = CASES[index]
    outcome = outcomes[str(index)]
    assert outcome["msg"] != "ACCEPTED", "%s was accepted" % name
    assert field in outcome["msg"], outcome["msg"]
    assert outcome["digest"] == outcomes["before"], "%s changed the host" % name
