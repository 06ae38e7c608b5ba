"""docs/migration.md, step 3: on a host that serves the tutorial's hand-made
/etc/nginx/conf.d/upstream.conf, `site.yml --check --diff` shows what the
role would change and changes nothing."""

import re
import time
import urllib.error
import urllib.request

import pytest

from support import BIN, ROOT, run

TUTORIAL = ROOT / "tests/unit/data/tutorial_upstream.conf"
LIVE = "/etc/nginx/conf.d/upstream.conf"
# Everything the two roles manage (nginx's config, the app server units and
# program), and nginx's processes: a reload starts new workers.
FINGERPRINT = ("find /etc/nginx /etc/systemd/system /opt /usr/local -type f -print0 2>/dev/null"
               " | sort -z | xargs -0 md5sum; ps -C nginx -o pid=,args= | sort")


def status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def wait_for_status(url, code, seconds=15):
    """nginx reloads asynchronously: True once `url` answers `code`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if status(url) == code:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def tutorial_host(converged, lab):
    """The lab, serving the tutorial's file as someone who followed it would;
    the role's file is put back afterwards."""
    lab.sh("cp %s /root/role-upstream.conf" % LIVE)
    run(["docker", "exec", "-i", lab.name, "sh", "-c", "cat > %s" % LIVE], timeout=30, input=TUTORIAL.read_text())
    lab.sh("nginx -t -q && systemctl reload nginx")
    # The tutorial's prefix location proxies /roundrobinX too; the role's does not (404).
    assert wait_for_status(lab.url + "/roundrobinX", 200), "nginx did not take the tutorial's file"
    try:
        yield lab
    finally:
        lab.sh("cp /root/role-upstream.conf %s && systemctl reload nginx" % LIVE, check=False)


def test_check_diff_shows_the_change_and_changes_nothing(galaxy, tutorial_host, artifacts, figure):
    lab = tutorial_host
    before = lab.sh(FINGERPRINT).stdout
    assert "md5sum" not in before and LIVE in before and "nginx: worker process" in before

    proc = run([BIN / "ansible-playbook", "-i", lab.inventory, "edgeops.nginx_lb.site", "--check", "--diff"],
               timeout=600, check=False, env=galaxy.env, cwd=galaxy.workdir)
    out = proc.stdout
    (artifacts / "migration-check-diff.txt").write_text(out)
    assert proc.returncode == 0, out[-6000:]

    # The diff of the live file, in the play's own output.
    assert "--- before: %s" % LIVE in out and "+++ after: %s" % LIVE in out
    for line in ["-        proxy_pass http://roundrobin/;",         # the tutorial's trailing slash goes
                 "+    zone roundrobin 64k;",                  # every upstream gets a zone ...
                 "+    keepalive 64;",                         # ... and keepalive
                 "+    location /roundrobin/ {",               # prefix stripping without a double slash
                 "+    server_name _;"]:
        assert line in out, line
    recap = re.search(r"%s\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0" % re.escape(lab.name), out)
    assert recap and int(recap.group(2)) >= 1, out[-2000:]

    # Nothing on the host changed: same files, same nginx, still the tutorial's config live.
    assert lab.sh(FINGERPRINT).stdout == before
    assert status(lab.url + "/roundrobinX") == 200
    diff = out[out.index("--- before: %s" % LIVE):].split("\nchanged: [", 1)[0].splitlines()[3:]
    figure("check --diff on the tutorial host", "%.0f s, %s tasks would change, diff +%d -%d lines" % (
        proc.elapsed, recap.group(2), sum(line[:1] == "+" for line in diff), sum(line[:1] == "-" for line in diff)))
