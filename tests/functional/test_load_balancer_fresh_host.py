"""A host without nginx: the load_balancer role's preflight names a feature
the nginx it would install lacks, before anything is installed, in a real run
and in a dry run (--check).

This machine has nginx (the functional tier runs it), so "without nginx" is
made in a mount namespace of the playbook's own: an empty, non-executable
file is bound over each nginx binary there, so host_info finds none (as on a
fresh host), while apt's lists and database stay this machine's own and
`apt-cache policy nginx` answers from them (offline). Nothing outside the
namespace sees the bind mount; it ends with the playbook."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.paths import COLLECTIONS, ROOT

BIN = Path(sys.executable).parent
PLAYBOOK = Path(__file__).with_name("render_load_balancer.yml")
# Where host_info looks for nginx: PATH and the module's opt_dirs.
NGINX_DIRS = os.environ.get("PATH", "").split(os.pathsep) + ["/usr/sbin", "/usr/local/sbin"]
STICKY = {"load_balancer_upstreams": [{"name": "sticky", "sticky": {"cookie": "srv"},
                                       "servers": [{"address": "127.0.0.1:7001"}]}],
          "load_balancer_locations": [{"path": "/sticky", "upstream": "sticky"}]}


def apt_candidate():
    """nginx's version in the candidate of the `nginx` package, read by this test's own regex."""
    if shutil.which("apt-cache") is None:
        return None
    out = subprocess.run(["apt-cache", "policy", "--", "nginx"], capture_output=True, text=True, check=False,
                         env=dict(os.environ, LC_ALL="C"), timeout=60).stdout
    found = re.search(r"^  Candidate: (?:[0-9]+:)?([0-9]+\.[0-9]+\.[0-9]+)[-+~]", out, re.MULTILINE)
    return found.group(1) if found else None


def can_hide_nginx():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], check=False,
                          capture_output=True, timeout=30).returncode == 0


CANDIDATE = apt_candidate()
pytestmark = [
    pytest.mark.skipif(CANDIDATE is None, reason="apt knows no candidate of the nginx package here"),
    pytest.mark.skipif(not can_hide_nginx(), reason="hiding nginx needs root and unshare --mount"),
]


def without_nginx(tmp_path, argv):
    """argv run where every nginx binary host_info could find is an empty, non-executable file."""
    empty = tmp_path / "no-nginx"
    empty.write_text("")
    empty.chmod(0o644)
    binaries = sorted({str(Path(d) / "nginx") for d in NGINX_DIRS if d and (Path(d) / "nginx").is_file()})
    mounts = " && ".join('mount --bind "$0" "%s"' % path for path in binaries) or "true"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            '%s && exec "$@"' % mounts, str(empty)] + argv


def render_fresh(tmp_path, check_mode):
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(STICKY))
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(PLAYBOOK), "-e", "out=%s" % (tmp_path / "out.conf"),
            "-e", "@%s" % varfile] + (["--check"] if check_mode else [])
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    return subprocess.run(without_nginx(tmp_path, argv), check=False, capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=180)


def test_nginx_is_hidden_only_inside(tmp_path):
    """The stand-in works (nothing to run there) and this machine's nginx is untouched."""
    proc = subprocess.run(without_nginx(tmp_path, ["sh", "-c", "command -v nginx; test -x /usr/sbin/nginx"]),
                          check=False, capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0, proc.stdout
    assert shutil.which("nginx", path=os.pathsep.join(NGINX_DIRS)) is not None


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_sticky_is_named_for_the_nginx_the_host_would_install(tmp_path, check_mode):
    proc = render_fresh(tmp_path, check_mode)
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0, output[-3000:]
    words = ("load_balancer_upstreams[0].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host would "
             "install %s" % CANDIDATE)
    assert words in output, output[-3000:]
    # In preflight's model task, the play's last task: the render never ran.
    assert "TASK [edgeops.nginx_lb.load_balancer : Build the upstream and location model]" in output
    assert output.rindex("TASK [") == output.index("TASK [edgeops.nginx_lb.load_balancer : Build the upstream")
    assert not (tmp_path / "out.conf").exists()
