"""Helpers of the ha scenario's verifier: a load client and an address
sampler that run inside the scenario's own containers (traffic only to the
floating addresses on the scenario's network), and what their output means."""

import json
import subprocess
import time

from lbcheck import docker

LB1, LB2, CLIENT = "edgeops-ha-lb1", "edgeops-ha-lb2", "edgeops-ha-client"
LBS = (LB1, LB2)
# ha_vips in molecule.yml: address i's master is LB i+1 (priority 200 there, 190 on the other).
VIP_A, VIP_B = "172.29.77.200", "172.29.77.201"
VIPS = (VIP_A, VIP_B)
MASTER = {VIP_A: LB1, VIP_B: LB2}
# The two VRRP settings the verifier runs: molecule.yml's (VRRPv2, 1 s
# adverts, a backup takes over after 2 missed ones) and VRRPv3 at 0.2 s with
# the RFC's 3 adverts (applied by apply_ha.yml).
SETTINGS = {
    "v2 1s": {"ha_vrrp_version": 2, "ha_advert_int": 1, "ha_down_timer_adverts": 2},
    # VRRPv3 has no authentication: molecule.yml's ha_auth_pass goes.
    "v3 0.2s": {"ha_vrrp_version": 3, "ha_advert_int": 0.2, "ha_down_timer_adverts": 3, "ha_auth_pass": ""},
}
# The goal for the time until the address is on the survivor: a
# figure with its verdict per setting, not an assertion (a timed assertion
# flakes on a shared machine).
SWITCH_GOAL = {"v2 1s": 3.0, "v3 0.2s": 1.0}


def switch_bound(setting):
    """What the protocol allows, asserted: a backup replaces a silent master
    after its down timer (adverts plus a skew below one advert); a connect the
    client sent meanwhile to the old holder waits for its SYN retransmission
    (1 s, then 2 s more). A failover slower than this is broken, not slow."""
    values = SETTINGS[setting]
    return (values["ha_down_timer_adverts"] + 1) * values["ha_advert_int"] + 3.0


# Runs on the client's python3. `concurrency` threads send GETs to one
# floating address on keep-alive connections, bounded in count
# (`max_requests`) and time (`seconds`). A GET that fails with a connection
# error (refused, reset, timeout) is retried once on a new connection,
# `retry_delay` seconds later; a worker whose retry failed too pauses
# 100 ms (a person does not refresh faster), so the failure counts measure
# the outage rather than a spin. Prints one JSON object: the counts (per
# X-Backend, which names the LB and the app server's port), and when
# failures began and ended.
LOAD = r'''
import http.client, json, sys, threading, time
host, path = sys.argv[1], sys.argv[2]
concurrency, seconds, max_requests, timeout = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
retry_delay = float(sys.argv[7])
lock = threading.Lock()
state = {"tickets": 0, "requests": 0, "ok": 0, "failed_before_retry": 0, "failed_after_retry": 0,
         "statuses": {}, "backends": {}, "errors": {}, "retry_errors": {}}
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
        return True, response.getheader("X-Backend", "?"), conn
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
            time.sleep(retry_delay)
            ok, what, conn = attempt(None)
        with lock:
            state["requests"] += 1
            if ok:
                state["ok"] += 1
                state["backends"][what] = state["backends"].get(what, 0) + 1
                successes.append((start, time.time()))
            elif retried:
                state["failed_after_retry"] += 1
                state["retry_errors"][what] = state["retry_errors"].get(what, 0) + 1
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

# Runs on an LB's python3: every 50 ms for at most `seconds` (and at most
# 20 * seconds + 20 samples), which of the addresses this host holds: a UDP
# socket binds to an address only while it is one of the host's own (no
# ip_nonlocal_bind in these containers), without a process per sample.
# `settle` "I=V" ends it early once address I's state has been V for a second
# ("-": never). Prints [[time, [held, ...]], ...] in the order of the addresses.
SAMPLER = r'''
import json, socket, sys, time
seconds, settle, addresses = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
index, value = (int(part) for part in settle.split("=")) if settle != "-" else (None, None)
def held(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 0))
        return 1
    except OSError:
        return 0
    finally:
        sock.close()
samples, end, since = [], time.monotonic() + seconds, None
while time.monotonic() < end and len(samples) < 20 * seconds + 20:
    samples.append([time.time(), [held(address) for address in addresses]])
    if index is not None:
        since = (since or samples[-1][0]) if samples[-1][1][index] == value else None
        if since is not None and samples[-1][0] - since >= 1.0 and samples[-1][0] - samples[0][0] >= 2.0:
            break
    time.sleep(max(0.0, 0.05 - (time.time() - samples[-1][0])))
print(json.dumps(samples))
'''

# Runs on an LB for `seconds` (bounded by `timeout`): one busy loop per CPU.
CPU_LOAD = "for i in $(seq $(nproc)); do timeout %d python3 -c 'while True: pass' & done; wait"


def sh(name, command, timeout=60, check=True):
    """`command` in container `name` (sh -c); its CompletedProcess."""
    return docker("exec", name, "sh", "-c", command, timeout=timeout, check=check)


def held_by(name):
    """The floating addresses `name` holds now ([] when it is not running)."""
    result = sh(name, "ip -o -4 address show dev eth0", check=False)
    if result.returncode != 0:
        return []
    return [vip for vip in VIPS if (" %s/" % vip) in result.stdout]


def placement():
    """{address: [holders]}."""
    held = {name: held_by(name) for name in LBS}
    return {vip: [name for name in LBS if vip in held[name]] for vip in VIPS}


def wait_until(predicate, seconds, step=0.2):
    """True as soon as predicate() is, False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# The client's one retry waits this long. At once is not enough when the LB's
# host dies: its nginx processes die one by one, a worker's death closes the
# client's connection while the master still holds the listening socket, and
# an immediate retry lands in that socket's queue and is reset when the last
# process goes (4-7 of 8 in-flight requests, measured). Half a second later
# nothing listens any more: the quiet-refusal rule drops the SYN (or the host
# is gone) and the client's kernel sends it again a second later, to the new
# holder. Bounded by `timeout` (5 s: the SYN at 0, 1 and 3 s).
RETRY_DELAY = 0.5


def start_load(vip, path="/roundrobin", concurrency=8, seconds=8.0, max_requests=100000, timeout=5.0,
               retry_delay=RETRY_DELAY):
    """The load client, started in the client container; finish it with load_result()."""
    return subprocess.Popen(["docker", "exec", CLIENT, "python3", "-c", LOAD, vip, path, str(concurrency),
                             str(seconds), str(max_requests), str(timeout), str(retry_delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_result(proc, seconds=90):
    out, err = proc.communicate(timeout=seconds)
    assert proc.returncode == 0, err
    return json.loads(out)


def per_lb(backends):
    """{LB: requests} from X-Backend counts ("edgeops-ha-lb1:7001": n)."""
    counts = {}
    for backend, number in backends.items():
        counts[backend.rsplit(":", 1)[0]] = counts.get(backend.rsplit(":", 1)[0], 0) + number
    return counts


def start_samplers(seconds, names=LBS, settle=None):
    """SAMPLER on each LB; `settle` {LB: "I=V"} ends one early (see SAMPLER)."""
    return {name: subprocess.Popen(["docker", "exec", name, "python3", "-c", SAMPLER, str(seconds),
                                    (settle or {}).get(name, "-")] + list(VIPS),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names}


def sampler_results(procs, seconds=90):
    """{LB: {address: [[time, held], ...]}}."""
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=seconds)
        assert proc.returncode == 0, err
        series = json.loads(out)
        results[name] = {vip: [[t, held[index]] for t, held in series] for index, vip in enumerate(VIPS)}
    return results


def longest_double_hold(samples, vip):
    """The longest time both LBs held `vip` at once, in seconds, from each
    one's samples (a host's state holds from one sample to its next)."""
    events = sorted((t, name, held) for name, by_vip in samples.items() for t, held in by_vip[vip])
    state = {name: 0 for name in samples}
    longest, since = 0.0, None
    for t, name, held in events:
        state[name] = held
        both = all(state.values()) and len(state) > 1
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


def adverts_sent(name):
    """{instance: adverts sent} from keepalived's statistics (SIGUSR2 writes /tmp/keepalived.stats)."""
    out = sh(name, "rm -f /tmp/keepalived.stats; systemctl kill --kill-who=main --signal=SIGUSR2 keepalived; "
                   "for i in 1 2 3 4 5 6 7 8 9 10; do [ -s /tmp/keepalived.stats ] && break; sleep 0.1; done; "
                   "sleep 0.2; cat /tmp/keepalived.stats", check=False).stdout
    sent, instance = {}, None
    for line in out.splitlines():
        if line.startswith("VRRP Instance:"):
            instance = line.split(":", 1)[1].strip()
        elif instance and "Sent:" in line and "Advertisements" not in line and instance not in sent:
            sent[instance] = int(line.split(":", 1)[1])
    return sent
