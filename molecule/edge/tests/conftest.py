import json
import os
import subprocess
import sys

import pytest
import testinfra
import yaml

# The shared helpers live beside the shared playbooks.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))

from edgecheck import CERT, NAME  # noqa: E402 pylint: disable=wrong-import-position
from lbcheck import ROOT, run_playbook  # noqa: E402 pylint: disable=wrong-import-position

FILES = ("/etc/nginx/nginx.conf", "/etc/nginx/conf.d/upstream.conf", CERT)
# The scenario's containers (molecule.yml); EDGE_PEBBLE / EDGE_LB point the
# verifiers at others of the same setup (a run outside molecule).
PEBBLE = os.environ.get("EDGE_PEBBLE", "edgeops-edge-pebble")
LB = os.environ.get("EDGE_LB", "edgeops-molecule-edge")
TESTSSL_TIMEOUT = 540


@pytest.fixture(scope="session")
def lb_host():
    """The LB host for session fixtures (testinfra's `host` is per module)."""
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (LB, os.environ["MOLECULE_INVENTORY_FILE"]))


# The scenario's own TLS settings (molecule.yml's group_vars).
SCENARIO_TLS = {"mode": "selfsigned", "hsts": True, "domains": [NAME]}


@pytest.fixture(scope="session")
def controller_pair(tmp_path_factory):
    """A certificate and the key of ANOTHER certificate, on the controller."""
    tmp = tmp_path_factory.mktemp("pair")
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=%s.example.test" % name, "-keyout", str(tmp / (name + ".key")),
                        "-out", str(tmp / (name + ".crt"))], check=True, capture_output=True, timeout=60)
    return tmp


def bad_cases(pair):
    """name -> the variables that differ from the scenario's own."""
    return {
        "unknown_mode": {"tls": {"mode": "acme-ish"}},
        "provided_without_files": {"tls": {"mode": "provided"}},
        "provided_file_missing": {"tls": {"mode": "provided", "cert": str(pair / "a.crt"),
                                          "key": str(pair / "nope.key")}},
        "key_not_the_certificates": {"tls": {"mode": "provided", "cert": str(pair / "a.crt"),
                                             "key": str(pair / "b.key")}},
        # A cipher name of the right shape that OpenSSL does not know: the
        # filter lets it through, the host's nginx -t refuses the candidate.
        "cipher_nginx_refuses": {"ssl_ciphers": "NO-SUCH-CIPHER"},
        "rlimit_below_twice_the_connections": {"worker_rlimit_nofile": 1024},
    }


@pytest.fixture(scope="session")
def bad_input(lb_host, controller_pair, tmp_path_factory):
    """Every bad-input case through the whole load_balancer role in ONE run
    (molecule/edge/bad_input.yml): {name: {"error": msg, "sha256": [...]}},
    and the files' checksums before the run."""
    before = [lb_host.file(path).sha256sum for path in FILES]
    with open(os.path.join(ROOT, "roles", "load_balancer", "defaults", "main.yml")) as stream:
        defaults = yaml.safe_load(stream)
    cases = [{"name": name, "tls": case.get("tls", SCENARIO_TLS),
              "ssl_ciphers": case.get("ssl_ciphers", defaults["load_balancer_ssl_ciphers"]),
              "worker_rlimit_nofile": case.get("worker_rlimit_nofile", defaults["load_balancer_worker_rlimit_nofile"])}
             for name, case in bad_cases(controller_pair).items()]
    out = tmp_path_factory.mktemp("bad_input") / "outcomes.json"
    run = run_playbook("molecule/edge/bad_input.yml", {"edge_cases": cases, "edge_outcomes_file": str(out)})
    assert run.returncode == 0, run.stdout[-4000:]
    outcomes = json.loads(out.read_text())
    assert [o["name"] for o in outcomes] == [c["name"] for c in cases]
    return {"before": before, "cases": {o["name"]: o for o in outcomes}, "stdout": run.stdout}


def pebble(*argv, timeout=60, stdin=None):
    """A command in the pebble container (the scenario's client on its network), bounded in time."""
    return subprocess.run(["docker", "exec", "-i", PEBBLE, *argv], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


class TestsslScan:
    """testssl.sh from the pebble container against lb.example.test:443, in
    the background (it takes minutes); result() waits for its JSON findings."""

    def __init__(self, cert_pem):
        assert pebble("sh", "-c", "cat > /tmp/lb-ca.pem && rm -f /tmp/testssl.json", stdin=cert_pem).returncode == 0
        testssl = 'exec timeout %d "$(command -v testssl || command -v testssl.sh)" "$@"' % TESTSSL_TIMEOUT
        # waited for in result(), killed by the fixture otherwise
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            ["docker", "exec", PEBBLE, "sh", "-c", testssl, "testssl", "--quiet", "--color", "0", "--warnings",
             "batch", "--add-ca", "/tmp/lb-ca.pem", "--jsonfile", "/tmp/testssl.json", "%s:443" % NAME],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self):
        printed = self.proc.communicate(timeout=TESTSSL_TIMEOUT + 60)[0]
        found = pebble("cat", "/tmp/testssl.json")
        assert found.returncode == 0, printed[-3000:]
        return json.loads(found.stdout)


@pytest.fixture(scope="session")
def testssl_scan(lb_host):
    """Started by test_edge.py once the ACME tests have put the scenario's
    self-signed certificate back; everything from there to the scan's test
    in test_tls.py only reads the served configuration (bad input changes
    nothing), so the scan runs beside those tests."""
    scan = TestsslScan(lb_host.file(CERT).content_string)
    yield scan
    if scan.proc.poll() is None:
        scan.proc.kill()
        scan.proc.wait(timeout=30)
