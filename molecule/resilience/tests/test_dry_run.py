"""`site.yml --check --diff` on the converged (live) host: after a
change of weights the diff shows exactly the changed server line, nothing is
written and nothing reloads; a candidate with a new log file is still checked
with nginx -t, and that log file is not created."""

import json
import os
import re
import subprocess

import pytest

from lbcheck import ROOT, default_upstreams, recap

LIVE = "/etc/nginx/conf.d/upstream.conf"
NEW_LOG = "/var/log/nginx/edgeops-dry-run.access.log"
# nginx's processes (a reload starts new workers), the app servers' main PIDs,
# and everything the two roles write.
STATE = ("ps -C nginx -o pid=,args= | sort; "
         "for u in $(systemctl list-units --plain --no-legend 'app-server@*' | cut -d' ' -f1); do "
         "echo $u $(systemctl show -p MainPID --value $u); done; "
         "find /etc/nginx /etc/systemd/system /etc/edgeops /opt/edgeops /var/lib/edgeops_nginx_lb -type f -print0"
         " 2>/dev/null"
         " | sort -z | xargs -0 md5sum; "
         # Log files by name only: the buffered access log flushes earlier
         # tests' lines up to a second later, whatever the dry run does.
         "ls -1 /var/log/nginx")


def dry_run(extra_vars):
    """site.yml --check --diff with `extra_vars`, from the controller, bounded in time."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
               os.path.join(ROOT, "playbooks", "site.yml"), "--check", "--diff", "-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, cwd=ROOT, env=env)


# The go-live task of the live file reported changed (its diff comes first).
GO_LIVE_CHANGED = r"TASK \[[^]]*: Put the upstream configuration live, checked by nginx -t\] \**\n(?:(?!TASK \[).*\n)*?changed:"


def diffs(output):
    """{path: changed lines} of every --diff in `output` (headers left out;
    a diff without a path under "")."""
    found, path = {}, None
    for line in output.splitlines():
        header = re.match(r"--- before(?:: (\S+))?", line)
        if header:
            path = header.group(1) or ""
            found.setdefault(path, [])
        elif path is not None and re.match(r"[-+](?![-+]{2} )", line) and not line.startswith("+++"):
            found[path].append(line)
    return found


def other_changes(found):
    """The changed lines outside the live file, whitespace folded."""
    return {re.sub(r"\s+", " ", line) for path, lines in found.items() if path != LIVE for line in lines}


@pytest.fixture
def state_kept(host):
    """The host's state before the test; the test asserts it is the same after."""
    before = host.check_output(STATE)
    assert "nginx: worker process" in before and "app-server@7001.service" in before and LIVE in before
    return before


def test_a_weight_change_dry_run_shows_the_server_line_and_reloads_nothing(host, state_kept, figure):
    weighted = [{"address": "127.0.0.1:7001", "weight": 3}, {"address": "127.0.0.1:7002"},
                {"address": "127.0.0.1:7003"}]
    run = dry_run({"load_balancer_upstreams": default_upstreams(weighted=weighted)})
    assert run.returncode == 0, run.stdout[-4000:]
    counts = list(recap(run).values())
    assert len(counts) == 1, counts
    counts = counts[0]
    assert counts["failed"] == 0

    # Exactly the changed server line, in the live file's diff; elsewhere only
    # the same weight in the model record that upstream_server reads.
    found = diffs(run.stdout)
    assert found.get(LIVE) == ["-    server 127.0.0.1:7001 weight=2;",
                               "+    server 127.0.0.1:7001 weight=3;"], run.stdout[-4000:]
    assert other_changes(found) <= {'- "weight": 2', '+ "weight": 3'}, found
    # The candidate was checked with nginx -t (nothing written); the reload is only announced.
    assert re.search(GO_LIVE_CHANGED, run.stdout)
    assert "would reload nginx" in run.stdout
    assert re.search(r"RUNNING HANDLER \[[^]]*: Reload nginx service\] \**\nskipping:", run.stdout)

    # Same nginx master and workers, same app servers, same files.
    assert host.check_output(STATE) == state_kept
    figure("dry run after a weight change", "ok=%d changed=%d skipped=%d, %d diff lines, nothing reloaded"
           % (counts["ok"], counts["changed"], counts["skipped"], sum(len(lines) for lines in found.values())))


def test_a_new_log_file_is_checked_but_not_created(host, state_kept):
    """nginx -t opens (creates) the log files of the config it tests: in a dry
    run the candidate's new access log points at a temporary file instead."""
    assert not host.file(NEW_LOG).exists
    run = dry_run({"load_balancer_access_log": NEW_LOG})
    assert run.returncode == 0, run.stdout[-4000:]
    assert re.search(GO_LIVE_CHANGED, run.stdout)
    # The one changed line: the path, the rest of the directive as it was.
    removed, added = diffs(run.stdout)[LIVE]
    assert removed.startswith("-    access_log /var/log/nginx/edgeops_lb.access.log "), run.stdout[-4000:]
    assert added == "+" + removed[1:].replace("/var/log/nginx/edgeops_lb.access.log", NEW_LOG)
    assert not host.file(NEW_LOG).exists
    assert host.check_output(STATE) == state_kept


def test_a_dry_run_still_refuses_a_candidate_nginx_rejects(host, state_kept):
    """Where nginx is installed, the dry run checks the candidate as a real run would."""
    run = dry_run({"load_balancer_extra_directives": ["proxy_buffering maybe"]})
    assert run.returncode != 0
    assert "invalid value \"maybe\"" in run.stdout, run.stdout[-4000:]
    assert host.check_output(STATE) == state_kept
