"""Helpers of the ha scenario's verifier: a load client and an address
sampler that run inside the scenario's own containers (traffic only to the
floating address on the scenario's network), and what their output means."""

import json
import subprocess
import time

from lbcheck import docker

LB1, LB2, CLIENT = "edgeops-ha-lb1", "edgeops-ha-lb2", "edgeops-ha-client"
LBS = (LB1, LB2)
VIP = "172.29.77.200"
ADVERT_INT = 1.0
DOWN_TIMER_ADVERTS = 2  # ha_down_timer_adverts in molecule.yml
# The goal for the time until the address answers again: a figure
# with its verdict, not an assertion (a timed assertion flakes on a shared
# machine; CI once measured 3.43 s for a keepalived SIGKILL).
SWITCH_GOAL = 3.0
# What the protocol allows, asserted: a backup replaces a silent master after
# DOWN_TIMER_ADVERTS adverts plus a skew below one advert; a connect the
# client sent meanwhile to the old holder waits for its SYN retransmissions
# (1 s, then 2 s more). A failover slower than this is broken, not slow.
SWITCH_BOUND = (DOWN_TIMER_ADVERTS + 1) * ADVERT_INT + 3.0

# Runs on the client's python3. `concurrency` threads send GETs to the floating
# address on keep-alive connections, bounded in count (`max_requests`) and
# time (`seconds`). A GET that fails with a connection error (refused, reset,
# timeout) is retried once at once on a new connection, as a browser would;
# a worker whose retry failed too pauses 100 ms (a person does not refresh
# faster), so the failure counts measure the outage rather than a spin.
# Prints one JSON object: the counts, and when failures began and ended.
LOAD = r'''
import http.client, json, sys, threading, time
host, path = sys.argv[1], sys.argv[2]
concurrency, seconds, max_requests, timeout = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
lock = threading.Lock()
state = {"tickets": 0, "requests": 0, "ok": 0, "failed_before_retry": 0, "failed_after_retry": 0,
         "statuses": {}, "backends": {}, "errors": {}}
failures, successes = [], []
started = time.time()
end = time.monotonic() + seconds

def attempt(conn):
    """(ok, backend or error, conn to keep)"""
    try:
        if conn is None:
            conn = http.client.HTTPConnection(host, 80, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            return False, "status %d" % response.status, conn
        return True, response.getheader("X-Backend", "?").rsplit(":", 1)[0], conn
    except Exception as exc:
        if conn is not None:
            conn.close()
        return False, "error " + type(exc).__name__, None

def worker():
    conn = None
    while time.monotonic() < end:
        with lock:
            if state["tickets"] >= max_requests:
                return
            state["tickets"] += 1
        start = time.time()
        ok, what, conn = attempt(conn)
        retried = False
        if not ok and what.startswith("error"):
            retried = True
            with lock:
                state["failed_before_retry"] += 1
                state["errors"][what] = state["errors"].get(what, 0) + 1
                failures.append(start)
            ok, what, conn = attempt(None)
        with lock:
            state["requests"] += 1
            if ok:
                state["ok"] += 1
                state["backends"][what] = state["backends"].get(what, 0) + 1
                successes.append((start, time.time()))
            elif retried:
                state["failed_after_retry"] += 1
            else:  # an HTTP error status: no retry, counted by status
                state["statuses"][what] = state["statuses"].get(what, 0) + 1
                failures.append(start)
        if not ok:
            time.sleep(0.1)
    if conn is not None:
        conn.close()

threads = [threading.Thread(target=worker) for _ in range(concurrency)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(seconds + 2 * timeout + 5)
state["first_failure"] = min(failures) if failures else None
state["last_failure"] = max(failures) if failures else None
after = [done for begun, done in successes if state["last_failure"] is not None and begun > state["last_failure"]]
state["recovered"] = min(after) if after else None
state["started"], state["ended"] = started, time.time()
print(json.dumps(state))
'''

# Runs on an LB's python3: every 100 ms for `seconds`, whether eth0 holds the
# floating address; prints [[time, 0 or 1], ...].
SAMPLER = r'''
import json, subprocess, sys, time
address, seconds = sys.argv[1], float(sys.argv[2])
samples, end = [], time.monotonic() + seconds
while time.monotonic() < end and len(samples) < 10 * seconds + 10:
    out = subprocess.run(["ip", "-o", "-4", "address", "show", "dev", "eth0"], capture_output=True, text=True).stdout
    samples.append([time.time(), int((" %s/" % address) in out)])
    time.sleep(max(0.0, 0.1 - (time.time() - samples[-1][0])))
print(json.dumps(samples))
'''


def sh(name, command, timeout=60, check=True):
    """`command` in container `name` (sh -c); its CompletedProcess."""
    return docker("exec", name, "sh", "-c", command, timeout=timeout, check=check)


def holds_vip(name):
    result = sh(name, "ip -o -4 address show dev eth0", check=False)
    return result.returncode == 0 and (" %s/" % VIP) in result.stdout


def holders():
    return [name for name in LBS if holds_vip(name)]


def wait_until(predicate, seconds, step=0.2):
    """True as soon as predicate() is, False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def start_load(path="/roundrobin", concurrency=16, seconds=12.0, max_requests=200000, timeout=5.0):
    """The load client, started in the client container; finish it with load_result()."""
    return subprocess.Popen(["docker", "exec", CLIENT, "python3", "-c", LOAD, VIP, path, str(concurrency),
                             str(seconds), str(max_requests), str(timeout)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_result(proc, seconds=90):
    out, err = proc.communicate(timeout=seconds)
    assert proc.returncode == 0, err
    return json.loads(out)


def start_samplers(seconds, names=LBS):
    return {name: subprocess.Popen(["docker", "exec", name, "python3", "-c", SAMPLER, VIP, str(seconds)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names}


def sampler_results(procs, seconds=60):
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=seconds)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)
    return results


def longest_double_hold(samples):
    """The longest time both LBs held the address at once, in seconds, from
    each one's samples (a host's state holds from one sample to its next)."""
    events = sorted((t, name, held) for name, series in samples.items() for t, held in series)
    state = {name: 0 for name in samples}
    longest, since = 0.0, None
    for t, name, held in events:
        state[name] = held
        both = all(state.values())
        if both and since is None:
            since = t
        elif not both and since is not None:
            longest, since = max(longest, t - since), None
    if since is not None:
        longest = max(longest, events[-1][0] - since)
    return longest


def first_hold(series, after=0.0):
    """The first sample time at or after `after` with the address held, or None."""
    return next((t for t, held in series if held and t >= after), None)


def scrape(name, url):
    """{metric line without value: value} of a Prometheus text page, read inside `name`."""
    out = docker("exec", name, "python3", "-c",
                 "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
                 url).stdout
    metrics = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            key, dummy, value = line.rpartition(" ")
            metrics[key] = float(value)
    return metrics
