"""The production edge, measured on the converged host: nginx.conf is the
role's, gixy-ng finds nothing in the host's whole configuration (its
`nginx -T`, TLS on), the descriptor limits are raised, every location still
balances exactly (through https), and bad main input changes nothing."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from edgecheck import CERT, count_tls
from lbcheck import lb_verify

testinfra_hosts = ["lb"]
# testssl.sh starts here, in the background (conftest.py); test_tls.py reads it.
pytestmark = pytest.mark.usefixtures("testssl_scan")

N = 20
GIXY = os.path.join(os.path.dirname(sys.executable), "gixy")


def nginx_dump(host):
    return host.check_output("nginx -T 2>/dev/null")


def test_nginx_conf_is_the_roles(host):
    conf = host.file("/etc/nginx/nginx.conf")
    assert conf.contains("Ansible managed") and conf.contains("worker_rlimit_nofile 40960;")
    dump = nginx_dump(host)
    assert "include /etc/nginx/modules-enabled/*.conf;" in dump
    assert "# configuration file /etc/nginx/conf.d/upstream.conf:" in dump
    for line in ("worker_connections 20480;", "worker_shutdown_timeout 30s;", "server_tokens off;",
                 "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers off;"):
        assert line in dump, line


def test_gixy_finds_nothing_in_the_hosts_whole_configuration(host):
    """gixy-ng over what the host's nginx really loads (nginx -T: nginx.conf
    with every include), not over our template alone."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as dump:
        dump.write(nginx_dump(host))
        dump.flush()
        proc = subprocess.run([GIXY, "-f", "json", dump.name], capture_output=True, text=True, timeout=120,
                              check=False)
    findings = [(i["plugin"], i["severity"], i.get("reason", "")) for i in json.loads(proc.stdout or "[]")]
    print("gixy-ng findings over the host's nginx -T: %d" % len(findings))
    assert proc.returncode == 0 and findings == []


def open_files(host, pid):
    """(soft, hard) descriptor limit of process `pid`."""
    soft, hard = host.check_output("awk '/Max open files/ {print $4, $5}' /proc/%s/limits" % pid).split()
    return int(soft), int(hard)


def test_descriptor_limits_are_raised(host):
    """The drop-in asks 65536 for the master, nginx.conf 40960 for each
    worker. Without CAP_SYS_RESOURCE (a container; this lab's VM has a hard
    limit of 20000) no process gets more than PID 1's hard limit: each
    limit is what was asked, capped by that ceiling, never the 1024 default."""
    assert host.file("/etc/systemd/system/nginx.service.d/edgeops-limits.conf").contains("LimitNOFILE=65536")
    assert host.check_output("systemctl show -p LimitNOFILE --value nginx") == "65536"
    ceiling = open_files(host, 1)[1]
    master = host.check_output("cat /run/nginx.pid")
    print("descriptor ceiling (PID 1 hard limit): %d; nginx master: %s" % (ceiling, open_files(host, master)))
    assert open_files(host, master)[0] == min(65536, ceiling)
    workers = host.check_output("pgrep -P %s" % master).split()
    assert len(workers) == int(host.check_output("nproc"))   # worker_processes auto
    for worker in workers:
        assert open_files(host, worker)[0] == min(40960, ceiling)


def test_every_location_still_balances_exactly(host):
    assert count_tls(host, "/roundrobin", 3 * N) == {"7001": N, "7002": N, "7003": N}
    assert count_tls(host, "/weighted", 4 * N) == {"7001": 2 * N, "7002": N, "7003": N}
    result = lb_verify(host, {"url": "https://127.0.0.1", "ca_file": CERT, "requests": 60, "clients": 4})
    assert result.get("passed") is True, result.get("msg")


def test_bad_main_input_is_named_and_changes_nothing(bad_input):
    """conftest.py's bad_input: every case through the role in one run."""
    case = bad_input["cases"]["rlimit_below_twice_the_connections"]
    assert "load_balancer_worker_rlimit_nofile: must be at least twice load_balancer_worker_connections" in \
        case["error"], case["error"]
    assert case["sha256"] == bad_input["before"]
