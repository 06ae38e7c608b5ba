"""Two load balancers, two floating addresses (active-active): each on its
master, exact shares through each, failover under load for three faults with
two VRRP settings (VRRPv2 1 s, VRRPv3 0.2 s), the way back with and without
preempt, no failover under CPU load, and the numbers operators scrape.

Load goes only from the scenario's client container to the floating
addresses on the scenario's own network; every loop is bounded in count and
time."""

import os
import time

import pytest

from hacheck import (CLIENT, CPU_LOAD, LB1, LB2, LBS, MASTER, SETTINGS, SWITCH_GOAL, VIP_A, VIP_B, VIPS,
                     adverts_sent, docker, first_hold, load_result, longest_double_hold, per_lb, placement,
                     sampler_results, scrape, sh, start_load, start_samplers, switch_bound, wait_until)
from lbcheck import lb_verify, recap, run_playbook

# Every test runs once, with `host` the client.
testinfra_hosts = [CLIENT]

PORTS = (7001, 7002, 7003)
APPLY_HA = "molecule/ha/apply_ha.yml"
HOME = {VIP_A: [LB1], VIP_B: [LB2]}
# The VRRP setting live on the LBs: read from LB1's keepalived.conf on first use
# (molecule.yml's after a converge; another after an earlier verify run).
APPLIED = {"setting": None}


def systemd_ready(name):
    result = sh(name, "systemctl is-system-running", check=False)
    return result.stdout.strip() in ("running", "degraded")


def apply_setting(setting):
    if APPLIED["setting"] is None:
        conf = sh(LB1, "cat /etc/keepalived/keepalived.conf").stdout
        APPLIED["setting"] = next((name for name, values in SETTINGS.items()
                                   if "version %d\n    advert_int %s\n" % (values["ha_vrrp_version"],
                                                                           values["ha_advert_int"]) in conf), "other")
    if APPLIED["setting"] != setting:
        run = run_playbook(APPLY_HA, SETTINGS[setting])
        assert run.returncode == 0, run.stdout[-3000:]
        APPLIED["setting"] = setting


@pytest.fixture()
def healthy():
    """Both LBs up with nginx and keepalived, each address on its master."""
    for name in LBS:
        if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            docker("start", name)
        assert wait_until(lambda n=name: systemd_ready(n), 30), "%s: systemd did not come up" % name
        sh(name, "systemctl start nginx keepalived")
    assert wait_until(lambda: placement() == HOME, 20), "the addresses are on %s, not %s" % (placement(), HOME)


def test_each_address_is_on_its_master(healthy):
    assert placement() == HOME
    conf1, conf2 = (sh(name, "cat /etc/keepalived/keepalived.conf").stdout for name in LBS)
    # One instance per address, the master's priority 200, the other LB's 190.
    assert "virtual_router_id 77\n    # master: edgeops-ha-lb1\n    priority 200" in conf1
    assert "virtual_router_id 78\n    # master: edgeops-ha-lb2\n    priority 190" in conf1
    assert "virtual_router_id 77\n    # master: edgeops-ha-lb1\n    priority 190" in conf2
    assert "virtual_router_id 78\n    # master: edgeops-ha-lb2\n    priority 200" in conf2
    assert "unicast_peer {\n        172.29.77.11\n" in conf2
    # The notify script logged the states to the journal: each LB is master of one, backup of the other.
    for name in LBS:
        journal = sh(name, "journalctl -t edgeops-ha --no-pager").stdout
        assert "is now MASTER" in journal and "is now BACKUP" in journal, journal
    # Quiet refusals: the table is loaded, for both addresses and nginx's ports.
    rules = sh(LB1, "nft list table inet edgeops_ha").stdout
    assert "socket transparent 0 accept" in rules and VIP_A in rules and VIP_B in rules, rules


@pytest.mark.parametrize("vip", VIPS)
def test_lb_verify_through_each_address_is_exact(host, healthy, vip):
    servers = ["127.0.0.1:%d" % port for port in PORTS]
    # From the client the backends' X-Backend names the LB that answered (edgeops-ha-lb1:7001), not the
    # 127.0.0.1 of its configuration, and lb_verify never matches by the port alone: the port in the
    # tutorial app's page names each backend instead.
    result = lb_verify(host, {
        "url": "http://%s:80" % vip,
        "backend_regex": "<h1>([0-9]+)</h1>",
        "requests": 120,
        "locations": [{"path": "/roundrobin", "expect": "round_robin", "servers": servers},
                      {"path": "/weighted", "expect": "round_robin", "servers": servers, "weights": [2, 1, 1]}]})
    assert result["passed"] is True, result.get("table") or result.get("msg")
    counts = {loc["path"]: loc["counts"] for loc in result["locations"]}
    assert counts == {"/roundrobin": {s: 40 for s in servers},
                      "/weighted": {servers[0]: 60, servers[1]: 30, servers[2]: 30}}, counts


def test_both_lbs_serve_and_the_metrics_add_up(healthy, figure):
    requests = 300  # per address: 100 per app server

    def app_answered():
        return sum(value for name in LBS for port in PORTS
                   for key, value in scrape(name, "http://127.0.0.1:%d/metrics" % port).items()
                   if key.startswith("app_server_requests_total{") and 'status="200"' in key)

    exporter = "http://127.0.0.1:9113/metrics"
    nginx_before = {name: scrape(name, exporter) for name in LBS}
    app_before = app_answered()
    procs = {vip: start_load(vip, seconds=40.0, max_requests=requests) for vip in VIPS}
    results = {vip: load_result(proc) for vip, proc in procs.items()}
    nginx_after = {name: scrape(name, exporter) for name in LBS}
    app_after = app_answered()
    for vip, result in results.items():
        figure("%s: answered by" % vip, result["backends"])
        assert (result["requests"], result["ok"]) == (requests, requests), result
        # Each address is served by its master alone, a third per app server (round robin, 8 clients).
        assert per_lb(result["backends"]) == {MASTER[vip]: requests}, result["backends"]
        assert sorted(result["backends"].values()) == [requests // 3] * 3, result["backends"]
    for name in LBS:
        assert nginx_before[name]["nginx_up"] == 1
        grown = nginx_after[name]["nginx_http_requests_total"] - nginx_before[name]["nginx_http_requests_total"]
        figure("%s: exporter requests delta" % name, grown)
        # The client's requests, plus the track script's and the exporter's own reads (one a second each).
        assert requests <= grown <= requests + 150, grown
    # Every request the client got was answered by exactly one app server.
    assert app_after - app_before == 2 * requests


def failover(fault, figure, label, seconds):
    """Load on both addresses for `seconds`, `fault` on LB1 two seconds in,
    LB2 sampled every 50 ms; the client's counts and the switch times (the
    address on LB2, and the first answer of a request begun after the last
    failed one), recorded as figures."""
    samplers = start_samplers(seconds + 1.0, names=(LB2,), settle={LB2: "0=1"})
    procs = {vip: start_load(vip, seconds=seconds) for vip in VIPS}
    time.sleep(2.0)
    fault_at = time.time()
    fault()
    # docker exec on a loaded machine takes a while: the fault happened between these two.
    fault_done = time.time()
    results = {vip: load_result(proc) for vip, proc in procs.items()}
    samples = sampler_results(samplers)
    moved = first_hold(samples[LB2][VIP_A], fault_at)
    # From the fault command's start (an upper bound) and, for a kill, from its return (a lower bound: the
    # signal was delivered by then); a planned nginx stop returns only after the hand-over.
    address_switch = round(moved - fault_at, 2) if moved is not None else None
    figure("%s: fault command took s" % label, round(fault_done - fault_at, 2))
    if moved is not None and moved > fault_done:
        figure("%s: address on LB2 after s, from the fault command's return" % label, round(moved - fault_done, 2))
    result = results[VIP_A]
    recovered = round(result["recovered"] - fault_at, 2) if result["recovered"] is not None else 0.0
    figure("%s: address on LB2 after s, from the fault command's start" % label, address_switch)
    figure("%s: client served again after s" % label, recovered)
    figure("%s: requests" % label, result["requests"])
    figure("%s: failed before retry" % label, result["failed_before_retry"])
    figure("%s: failed after retry" % label, result["failed_after_retry"])
    figure("%s: errors (first try, retry)" % label, [result["errors"], result["retry_errors"]])
    figure("%s: answered by" % label, per_lb(result["backends"]))
    figure("%s: other address failed before/after retry" % label,
           [results[VIP_B]["failed_before_retry"], results[VIP_B]["failed_after_retry"]])
    assert moved is not None, "LB2 never held %s after the fault" % VIP_A
    for res in results.values():
        assert res["statuses"] == {}, res  # no HTTP error status: failures are connection failures only
        assert res["requests"] == res["ok"] + res["failed_after_retry"]
    # LB1 answered the first address before the fault, LB2 after; LB2 alone the other one throughout.
    assert per_lb(result["backends"]).get(LB1, 0) > 0 and per_lb(result["backends"]).get(LB2, 0) > 0, result
    assert per_lb(results[VIP_B]["backends"]) == {LB2: results[VIP_B]["ok"]}, results[VIP_B]
    assert results[VIP_B]["failed_after_retry"] == 0, results[VIP_B]
    assert result["failed_before_retry"] == 0 or result["recovered"] is not None, result
    return result, address_switch, recovered


def comes_back(action, figure, label, seconds=8.0, lb1_down=False):
    """Sample both LBs every 50 ms while `action` brings LB1 back; no address
    is on both for longer than one advert interval. With `lb1_down` (its
    container is stopped) LB1's sampler starts as soon as `action` returns,
    which is before its keepalived can hold anything."""
    # Each ends a second after the first address is back home (LB1 holds it, LB2 not).
    settle = {LB1: "0=1", LB2: "0=0"}
    samplers = start_samplers(seconds, names=(LB2,) if lb1_down else LBS, settle=settle)
    time.sleep(0.3)
    back_at = time.time()
    action()
    if lb1_down:
        samplers.update(start_samplers(seconds, names=(LB1,), settle=settle))
    samples = sampler_results(samplers)
    advert = SETTINGS[APPLIED["setting"]]["ha_advert_int"] if APPLIED["setting"] in SETTINGS else 1
    for vip in VIPS:
        double = longest_double_hold(samples, vip)
        figure("%s: %s longest double hold s" % (label, vip), round(double, 2))
        assert double <= advert, "both LBs held %s for %.2f s" % (vip, double)
    # Sampling that kept up: at least half the 20 a second of its span, on a loaded machine.
    for name, by_vip in samples.items():
        span = by_vip[VIP_A][-1][0] - by_vip[VIP_A][0][0]
        assert len(by_vip[VIP_A]) >= 20 * span * 0.5, (name, len(by_vip[VIP_A]), span)
    # The other address never left LB2.
    assert all(held for t, held in samples[LB2][VIP_B]), "LB2 let %s go" % VIP_B
    taken_back = first_hold(samples[LB1][VIP_A], back_at)
    assert taken_back is not None, "LB1 did not take %s back" % VIP_A
    figure("%s: LB1 holds %s again after s" % (label, VIP_A), round(taken_back - back_at, 2))
    assert wait_until(lambda: placement() == HOME, 5), placement()
    return samples, back_at


FAULTS = {
    # A planned stop: edgeops-ha-handover.service (bound to nginx, stopped
    # before it) lets nginx finish its requests in flight (SIGQUIT) while LB1
    # still holds the address, then puts LB1 into FAULT and waits until LB2
    # answers on it. (The address first lost the acknowledged requests in
    # flight: a CI run's 8 clients waited out their 5 s timeout.)
    "nginx stopped": (lambda: sh(LB1, "systemctl stop nginx"), lambda: sh(LB1, "systemctl start nginx")),
    # systemd removes the address the dead keepalived could not (ExecStopPost).
    "keepalived SIGKILL": (lambda: sh(LB1, "systemctl kill --signal=SIGKILL keepalived"),
                           lambda: sh(LB1, "systemctl start keepalived")),
    # The host is lost at once: no goodbye advert, LB2 waits out its master
    # down timer. The dying host's sockets close first; the immediate retry
    # meets LB1's address with nothing listening, which the quiet-refusal
    # rule drops, so the client's kernel sends the SYN again a second later,
    # to LB2.
    "LB1 container killed": (lambda: docker("kill", LB1), lambda: docker("start", LB1)),
}


def run_fault(setting, fault, figure):
    apply_setting(setting)
    assert wait_until(lambda: placement() == HOME, 15), placement()
    label = "%s, %s" % (setting, fault)
    make_fault, undo = FAULTS[fault]
    # The load lasts until the bound below has passed since the fault, and half a second more.
    result, address_switch, recovered = failover(make_fault, figure, label, seconds=2.0 + switch_bound(setting) + 0.5)
    figure("%s: goal address switch <= %.1f s" % (label, SWITCH_GOAL[setting]),
           "met" if address_switch <= SWITCH_GOAL[setting] else "missed")
    assert placement()[VIP_A] == [LB2] and placement()[VIP_B] == [LB2], placement()
    if fault == "nginx stopped":
        journal = sh(LB1, "journalctl -u edgeops-ha-handover --no-pager").stdout
        assert "finished its requests and exited" in journal and "answered by another host" in journal, journal
    assert result["failed_after_retry"] == 0, result
    assert address_switch <= switch_bound(setting) and recovered <= switch_bound(setting), (address_switch, recovered)
    killed = fault == "LB1 container killed"
    comes_back(undo, figure, "%s back (preempt)" % label, seconds=40.0 if killed else 12.0, lb1_down=killed)


# VRRPv2 1 s (the default) is run for its hardest fault only, the host lost
# without a goodbye; VRRPv3 0.2 s below for all three. The scenario's time is
# a budget (docs/testing.md); the other two v2 faults are measured the same way
# with EDGEOPS_HA_ALL_FAULTS=1.
V2_FAULTS = list(FAULTS) if os.environ.get("EDGEOPS_HA_ALL_FAULTS") == "1" else ["LB1 container killed"]


@pytest.mark.parametrize("fault", V2_FAULTS)
def test_failover_vrrp2_1s(healthy, figure, fault):
    run_fault("v2 1s", fault, figure)


def test_with_nopreempt_the_address_stays_where_it_is(healthy, figure):
    """Between the two VRRP settings: VRRPv3 0.2 s goes live with nopreempt,
    then again without it (two playbook runs, not three)."""
    run = run_playbook(APPLY_HA, dict(SETTINGS["v3 0.2s"], ha_nopreempt=True))
    assert run.returncode == 0, run.stdout[-3000:]
    APPLIED["setting"] = "v3 0.2s"
    assert "nopreempt" in sh(LB1, "cat /etc/keepalived/keepalived.conf").stdout
    try:
        sh(LB1, "systemctl stop nginx")
        assert wait_until(lambda: placement() == {VIP_A: [LB2], VIP_B: [LB2]}, 10), placement()
        samplers = start_samplers(6.0)
        time.sleep(0.3)
        back_at = time.time()
        sh(LB1, "systemctl start nginx")
        samples = sampler_results(samplers)
        figure("nginx back (nopreempt): %s longest double hold s" % VIP_A, round(longest_double_hold(samples, VIP_A), 2))
        assert first_hold(samples[LB1][VIP_A], back_at) is None, "LB1 took the address back despite nopreempt"
        assert all(held for t, held in samples[LB2][VIP_A] if t >= back_at)
    finally:
        sh(LB1, "systemctl start nginx", check=False)
        run = run_playbook(APPLY_HA, dict(SETTINGS["v3 0.2s"], ha_nopreempt=False))
    assert run.returncode == 0, run.stdout[-3000:]
    assert all(counts["failed"] == 0 for counts in recap(run).values())
    # Preempt again: LB1 (priority 200 for the first address) takes it back.
    assert wait_until(lambda: placement() == HOME, 15), placement()


@pytest.mark.parametrize("fault", FAULTS)
def test_failover_vrrp3_200ms(healthy, figure, fault):
    run_fault("v3 0.2s", fault, figure)


def test_no_failover_under_cpu_load(healthy, figure):
    """VRRPv3 0.2 s adverts, both LBs with a busy loop per CPU for 30 s:
    every sample (50 ms) finds each address on its master alone."""
    apply_setting("v3 0.2s")
    assert wait_until(lambda: placement() == HOME, 15), placement()
    before = {name: adverts_sent(name) for name in LBS}
    transitions = {name: sh(name, "journalctl -t edgeops-ha --no-pager | wc -l").stdout.strip() for name in LBS}
    samplers = start_samplers(30.0)
    loads = [docker("exec", "-d", name, "sh", "-c", CPU_LOAD % 30) for name in LBS]
    started = time.time()
    samples = sampler_results(samplers, seconds=120)
    elapsed = time.time() - started
    after = {name: adverts_sent(name) for name in LBS}
    assert len(loads) == 2
    for name in LBS:
        sent = {instance: after[name].get(instance, 0) - count for instance, count in before[name].items()}
        figure("CPU load: %s adverts sent per s" % name, {k: round(v / elapsed, 1) for k, v in sent.items()})
        figure("CPU load: %s samples" % name, len(samples[name][VIP_A]))
    for vip in VIPS:
        for name in LBS:
            expected = 1 if MASTER[vip] == name else 0
            wrong = [t for t, held in samples[name][vip] if held != expected]
            assert not wrong, "%s: %s %s for %d samples under CPU load (a false failover)" % (
                name, "lost" if expected else "held", vip, len(wrong))
    assert all(len(by_vip[VIP_A]) >= 100 for by_vip in samples.values()), \
        {name: len(by_vip[VIP_A]) for name, by_vip in samples.items()}
    for name in LBS:
        assert sh(name, "journalctl -t edgeops-ha --no-pager | wc -l").stdout.strip() == transitions[name], \
            sh(name, "journalctl -t edgeops-ha --no-pager | tail").stdout
