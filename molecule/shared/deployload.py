"""Load for the deploy tests: a client inside one of the scenario's containers
(loopback to its nginx only), 16 keep-alive connections for the whole test,
paced (2,000 requests a second by default: unpaced, the client took both
cores from the playbook it measures),
every response counted by second, status and X-App-Version (or another
header: X-Upstream-Addr for the resolve test); and playbook runs
whose task start times are known (ansible.posix.profile_tasks)."""

import datetime
import json
import os
import re
import subprocess
import time

from lbcheck import ROOT, docker, docker_exec, run_playbook

# The project's own poller (plugins/module_utils/_http_poll.py, standard
# library only), run by the container's python3 in rounds of one second: 16
# keep-alive connections, at most `rate` requests a round, responses counted
# by X-App-Version, failures by kind; a request on a keep-alive connection that nginx closed at a reload is
# sent again once (RFC 9112 9.3.1) and counted as `retried`, not failed.
# Bounded: at most max_seconds; stops when the stop file appears.
POLLER = os.path.join(ROOT, "plugins", "module_utils", "_http_poll.py")
_CLIENT = r'''
import json, os, sys, time
sys.path.insert(0, "/var/tmp")
from _http_poll import poll
path, concurrency, max_seconds, stop_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rate, header = int(sys.argv[5]), sys.argv[6]
rounds, started = [], time.monotonic()
while time.monotonic() - started < max_seconds and not os.path.exists(stop_file):
    begun, round_started = time.time(), time.monotonic()
    result = poll("http://127.0.0.1:80", path, rate, concurrency=concurrency, timeout=10, deadline_s=1.0,
                  backend_header=header)
    rounds.append([begun, time.time(), result.counts, result.errors, result.retried])
    time.sleep(max(0.0, 1.0 - (time.monotonic() - round_started)))
print(json.dumps({"rounds": rounds, "sent": sum(sum(r[2].values()) + sum(r[3].values()) for r in rounds),
                  "failed": sum(sum(r[3].values()) for r in rounds), "retried": sum(r[4] for r in rounds)}))
'''


def served_version(name):
    """The X-App-Version each of a host's instances (7001-7003) answers, asked on the host itself."""
    script = ("import socket, urllib.request as u\n"
              "a = socket.gethostbyname(socket.gethostname())\n"
              "print(' '.join(u.urlopen('http://%s:%d/' % (a, p), timeout=5).headers.get('X-App-Version', '-')"
              " for p in (7001, 7002, 7003)))")
    return set(docker_exec(name, "python3", "-c", script).split())


class Load:
    """`with Load(container, path) as load:` ... `load.result` afterwards."""

    def __init__(self, container, path, concurrency=16, max_seconds=900, rate=2000, header="X-App-Version"):
        self.container, self.result, self.proc = container, None, None
        self.stop_file = "/var/tmp/edgeops-deployload.stop"
        self.args = [path, str(concurrency), str(max_seconds), self.stop_file, str(rate), header]
        self.timeout = max_seconds + 60

    def __enter__(self):
        # In /var/tmp: docker cp writes below the tmpfs that the container mounts on /tmp.
        docker("cp", POLLER, "%s:/var/tmp/_http_poll.py" % self.container, timeout=30)
        docker_exec(self.container, "rm", "-f", self.stop_file)
        self.proc = subprocess.Popen(["docker", "exec", self.container, "timeout", str(self.timeout), "python3", "-c",
                                      _CLIENT, *self.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)  # the load runs before the play starts
        return self

    def __exit__(self, *exc_info):
        time.sleep(2)  # and still runs after it ended
        docker("exec", self.container, "touch", self.stop_file, check=False, timeout=30)
        try:
            out, err = self.proc.communicate(timeout=self.timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.result = json.loads(out) if out.strip() else {"sent": 0, "failed": -1, "rounds": [], "stderr": err}
        return False

    def versions(self, after=None, before=None):
        """{version: responses} of the rounds wholly after `after` and before `before` (epoch seconds)."""
        found = {}
        for begun, ended, counts, dummy, dummy in self.result["rounds"]:
            if (after is None or begun >= after) and (before is None or ended < before):
                for version, number in counts.items():
                    found[version] = found.get(version, 0) + number
        return found

    def failures(self):
        found = {}
        for round_ in self.result["rounds"]:
            for kind, number in round_[3].items():
                found[kind] = found.get(kind, 0) + number
        return found


def profiled_playbook(playbook, extra_vars=None, limit=None, timeout=900):
    """lbcheck.run_playbook with task start times printed (profile_tasks) and
    results as JSON (a message is one string, not folded over lines);
    (CompletedProcess, wall seconds)."""
    started = time.monotonic()
    run = run_playbook(playbook, extra_vars, limit=limit, timeout=timeout,
                       env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
                            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    return run, time.monotonic() - started


_TASK = re.compile(r"^TASK \[(?P<name>[^\]]*)\][^\n]*\n(?P<when>\w+ \d+ \w+ \d{4} +\d\d:\d\d:\d\d [+-]\d{4})", re.M)


def task_times(run):
    """[(task name, epoch second it started)] in the order the play ran them."""
    return [(m.group("name"), datetime.datetime.strptime(re.sub(" +", " ", m.group("when")),
                                                         "%A %d %B %Y %H:%M:%S %z").timestamp())
            for m in _TASK.finditer(run.stdout)]


def first_start(times, name_part):
    return min(t for name, t in times if name_part in name)


def last_end(times, name_part):
    """When the last task containing `name_part` ended: the start of the task after it."""
    index = max(i for i, (name, dummy) in enumerate(times) if name_part in name)
    return times[index + 1][1] if index + 1 < len(times) else times[index][1]


def messages(run):
    """Every `msg` of the play's results, decoded."""
    return [json.loads(m) for m in re.findall(r'"msg": ("(?:[^"\\]|\\.)*")', run.stdout)]


def message(run, pattern):
    """The first match of `pattern` in a result's msg, or None."""
    for text in messages(run):
        found = re.search(pattern, text)
        if found:
            return found
    return None


def drain_waits(run):
    """The seconds each drain waited (the module's drain.waited), from the playbook's report."""
    return [float(x) for text in messages(run) if text.startswith("drained ")
            for x in re.findall(r"([0-9.]+) s on edgeops", text)]
