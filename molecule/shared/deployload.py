"""Load for the deploy tests: a client inside one of the scenario's containers
(loopback to its nginx only), 16 keep-alive connections for the whole test,
every response counted by second, status and X-App-Version; and playbook runs
whose task start times are known (ansible.posix.profile_tasks)."""

import datetime
import json
import os
import re
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Runs on the container's python3, read from stdin. Bounded: at most
# max_requests and max_seconds; stops when the stop file appears. Prints
# {"buckets": [[second, status, version, n], ...], "sent": n, "failed": n}.
_CLIENT = r'''
import http.client, json, os, sys, threading, time
path, concurrency, max_requests, max_seconds, pause, stop_file = (
    sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
deadline = time.monotonic() + max_seconds
stop = threading.Event()
budget = [max_requests]
lock = threading.Lock()
results = []

def worker():
    counts, conn = {}, None
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=15)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            key = (int(time.time()), str(response.status), response.getheader("X-App-Version") or "-")
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as exc:
            key, conn = (int(time.time()), "error " + type(exc).__name__, "-"), None
        counts[key] = counts.get(key, 0) + 1
        if pause:
            time.sleep(pause)
    with lock:
        results.append(counts)

threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for thread in threads:
    thread.start()
while any(t.is_alive() for t in threads):
    if os.path.exists(stop_file) or time.monotonic() > deadline + 20:
        stop.set()
    time.sleep(0.1)
merged = {}
for counts in results:
    for key, n in counts.items():
        merged[key] = merged.get(key, 0) + n
sent = sum(merged.values())
failed = sum(n for (second, status, version), n in merged.items() if status != "200")
print(json.dumps({"buckets": [[s, st, v, n] for (s, st, v), n in sorted(merged.items())],
                  "sent": sent, "failed": failed}))
'''


class Load:
    """`with Load(container, path) as load:` ... `load.result` afterwards."""

    def __init__(self, container, path, concurrency=16, max_requests=400000, max_seconds=600, pause=0.02):
        self.container, self.result = container, None
        self.stop_file = "/tmp/edgeops-deployload.stop"
        self.args = [path, str(concurrency), str(max_requests), str(max_seconds), str(pause), self.stop_file]
        self.timeout = max_seconds + 60
        self.proc = None

    def __enter__(self):
        subprocess.run(["docker", "exec", self.container, "rm", "-f", self.stop_file], check=True, timeout=30)
        self.proc = subprocess.Popen(["docker", "exec", "-i", self.container, "python3", "-", *self.args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.proc.stdin.write(_CLIENT)
        self.proc.stdin.close()
        time.sleep(1)
        return self

    def __exit__(self, *exc_info):
        subprocess.run(["docker", "exec", self.container, "touch", self.stop_file], check=False, timeout=30)
        try:
            out = self.proc.stdout.read()
            self.proc.wait(timeout=self.timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.result = json.loads(out) if out.strip() else {"sent": 0, "failed": 0, "buckets": [],
                                                           "stderr": self.proc.stderr.read()}
        return False

    def versions(self, after=None, before=None):
        """{version: responses with status 200} within [after, before) (epoch seconds)."""
        found = {}
        for second, status, version, number in self.result["buckets"]:
            if status == "200" and (after is None or second >= after) and (before is None or second < before):
                found[version] = found.get(version, 0) + number
        return found

    def failures(self):
        return {"%s %s" % (status, version): number for second, status, version, number in self.result["buckets"]
                if status != "200"}


def run_playbook(playbook, extra_vars=None, limit=None, timeout=900):
    """ansible-playbook on the scenario's inventory with task start times
    printed (profile_tasks); (CompletedProcess, wall seconds)."""
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(ROOT, playbook)]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    if limit:
        command += ["--limit", limit]
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks",
               # JSON results: a message is one string, not folded over lines.
               ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    started = time.monotonic()
    run = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=timeout, cwd=ROOT, env=env)
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
