"""`make bench`, scale part: converge time as app hosts are added, and the
resident memory of nginx and of each app server instance.

Called by benchmarks/bench.py (hosts() and memory() with bench.py's own
helpers passed in); `benchmarks/run.sh --only scale` runs hosts() alone and
adds its rows to the last results.

hosts(): for each size N of BENCH_HOSTS (default "1 3 6 10"), fresh systemd
containers on a Docker network of its own (edgeops-bench-scale): N app hosts
and two load balancers, and as the baseline one host in both tiers (as `make
lab`). playbooks/site.yml converges them from scratch, then re-runs
(idempotent). Every container and the network are removed after each size,
also on failure; leftovers of an interrupted run are removed first. The
verification play polls only the load balancers themselves (loopback).
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
IMAGE = "edgeops-lab/debian-systemd:bookworm"
NETWORK = "edgeops-bench-scale"
PREFIX = "edgeops-bench-scale-"
SIZES = [int(n) for n in os.environ.get("BENCH_HOSTS", "1 3 6 10").split()]
# The re-run of the largest setup is repeated at this many forks, to compare
# with ansible.cfg's (Ansible's default, 5, when ansible.cfg sets none).
COMPARE_FORKS = int(os.environ.get("BENCH_COMPARE_FORKS", "20"))
# The targets of the scale part.
MAX_SCALE_RATIO = 2.0
MAX_APP_RSS_MB = 30.0


def log(message):
    print("==> " + message, flush=True)


def _docker(*argv, check=True, timeout=120):
    proc = subprocess.run(["docker"] + list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError("docker %s: %s" % (" ".join(argv[:3]), proc.stderr[-1000:]))
    return proc.stdout


def _ours():
    """Containers of this benchmark (by their fixed prefix), running or not."""
    names = _docker("ps", "-a", "--format", "{{.Names}}").split()
    return [n for n in names if n.startswith(PREFIX)]


def cleanup():
    names = _ours()
    if names:
        _docker("rm", "-f", *names, check=False, timeout=300)
    _docker("network", "rm", NETWORK, check=False)


def _start(names):
    _docker("network", "create", NETWORK)
    for name in names:
        subprocess.run([str(ROOT / "scripts" / "systemd-container.sh"), name, IMAGE, "--network", NETWORK],
                       check=True, timeout=180, capture_output=True)


def _inventory(apps, lbs):
    """YAML is JSON: the cluster scenario's layout (upstreams from the app group)."""
    hosts = sorted(set(apps + lbs))
    inventory = {"all": {
        "children": {"app": {"hosts": {h: {} for h in apps}}, "lb": {"hosts": {h: {} for h in lbs}}},
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_become": False}}}
    if apps != lbs:
        inventory["all"]["children"]["app"]["vars"] = {
            "app_servers_bind_address": "{{ ansible_facts['default_ipv4']['address'] }}"}
        inventory["all"]["children"]["lb"]["vars"] = {
            "load_balancer_upstreams": [{"name": "roundrobin", "group": "app"},
                                        {"name": "leastconn", "method": "least_conn", "group": "app"}],
            "load_balancer_locations": [{"path": "/roundrobin", "upstream": "roundrobin"},
                                        {"path": "/leastconn", "upstream": "leastconn"}]}
    return inventory, hosts


def _converge(playbook, name, inventory, env_extra=None):
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        json.dump(inventory, handle)
    try:
        return playbook(name, ROOT / "playbooks" / "site.yml", inventory=handle.name, env_extra=env_extra)
    finally:
        os.unlink(handle.name)


def configured_forks():
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "ansible.cfg")
    return config.getint("defaults", "forks", fallback=5)


def hosts(playbook):
    """Rows: setup, app hosts, LB hosts, first converge and re-run (wall s,
    module runs on the hosts, changed on the re-run)."""
    setups = [("1 host in both tiers", [PREFIX + "one"], [PREFIX + "one"])]
    for size in SIZES:
        setups.append(("%d app host%s + 2 LBs" % (size, "" if size == 1 else "s"),
                       [PREFIX + "app%d" % i for i in range(1, size + 1)], [PREFIX + "lb1", PREFIX + "lb2"]))
    rows = []
    for label, apps, lbs in setups:
        cleanup()
        inventory, names = _inventory(apps, lbs)
        try:
            log("scale: %s, starting %d containers" % (label, len(names)))
            _start(names)
            key = "hosts-%d-%d" % (len(apps), len(lbs))
            log("scale: %s, first converge" % label)
            first = _converge(playbook, key + "-first", inventory)
            log("  %.1f s" % first["wall_s"])
            rerun = _converge(playbook, key + "-rerun", inventory)
            log("  re-run %.1f s, %d changed" % (rerun["wall_s"], rerun["changed"]))
            row = {"setup": label, "apps": len(apps), "lbs": len(lbs), "hosts": len(names),
                   "first_s": first["wall_s"], "first_calls": first["host_calls"],
                   "rerun_s": rerun["wall_s"], "rerun_calls": rerun["host_calls"], "rerun_changed": rerun["changed"]}
            row["forks"] = configured_forks()
            if len(names) > 5 and apps is setups[-1][1] and COMPARE_FORKS != row["forks"]:
                # The same re-run at another forks than ansible.cfg's.
                other = _converge(playbook, key + "-rerun-forks%d" % COMPARE_FORKS, inventory,
                                  {"ANSIBLE_FORKS": str(COMPARE_FORKS)})
                log("  re-run at forks %d: %.1f s" % (COMPARE_FORKS, other["wall_s"]))
                row["rerun_other_forks"] = {"forks": COMPARE_FORKS, "s": other["wall_s"]}
            rows.append(row)
        finally:
            cleanup()
    return rows


# ---------------------------------------------------------------- memory

def _rss_script(service):
    """Shell for `inside`: one line per process, 'name rss_kb'."""
    return ("for pid in $(pgrep -x nginx); do echo nginx $(awk '/^VmRSS/ {print $2}' /proc/$pid/status); done; "
            "for unit in $(systemctl list-units --plain --no-legend --state=running '%s@*.service' "
            "| awk '{print $1}'); do pid=$(systemctl show -p MainPID --value $unit); "
            "echo ${unit%%.service} $(awk '/^VmRSS/ {print $2}' /proc/$pid/status); done" % service)


def _rss(inside):
    """{process group: MB}: nginx is master plus workers, each app instance alone."""
    out = {}
    for line in inside(_rss_script("app-server")).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = out.get(parts[0], 0.0) + int(parts[1]) / 1024.0
    return out


def memory(inside, container, work, seconds=6, connections=64):
    """Resident memory idle and at its highest under wrk -c64 on /roundrobin
    (sampled every 0.5 s while the load runs)."""
    idle = _rss(inside)
    load = subprocess.Popen(["docker", "exec", container, "timeout", str(seconds + 30), "python3",
                             "%s/inside.py" % work, "load", str(seconds), str(connections),
                             "http://127.0.0.1:80/roundrobin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = {}
    try:
        deadline = time.monotonic() + seconds + 20
        time.sleep(1)
        while load.poll() is None and time.monotonic() < deadline:
            for name, mb in _rss(inside).items():
                peak[name] = max(peak.get(name, 0.0), mb)
            time.sleep(0.5)
        out, dummy = load.communicate(timeout=max(1, deadline - time.monotonic()) + 30)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait(10)
    result = json.loads(out.strip().splitlines()[-1])
    return {"idle_mb": idle, "loaded_mb": peak, "connections": connections, "rps": result["rps"],
            "failed": result["non2xx"] + result["errors"]}


# ---------------------------------------------------------------- report

def report_lines(data):
    lines = []
    rows = data.get("hosts") or []
    if rows:
        lines += ["", "**Converge time as app hosts are added** (playbooks/site.yml on fresh systemd containers on a "
                  "bench network, forks %d; the baseline is one host in both tiers; per added host: "
                  "from the smallest to the largest N app hosts + 2 LBs)", "",
                  "| setup | hosts | first converge s | module runs | re-run s | module runs | re-run changed "
                  "| first ÷ 1 host | re-run ÷ 1 host |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines[-4] = lines[-4] % rows[0].get("forks", 5)
        base = rows[0]
        for row in rows:
            lines.append("| %s | %d | %.1f | %d | %.1f | %d | %d | %.2f | %.2f |" % (
                row["setup"], row["hosts"], row["first_s"], row["first_calls"], row["rerun_s"], row["rerun_calls"],
                row["rerun_changed"], row["first_s"] / base["first_s"], row["rerun_s"] / base["rerun_s"]))
        grown = [r for r in rows[1:]]
        if len(grown) >= 2:
            low, high = grown[0], grown[-1]
            added = high["apps"] - low["apps"]
            lines += ["", "Cost per added app host (%d to %d): first converge %.2f s, re-run %.2f s." % (
                low["apps"], high["apps"], (high["first_s"] - low["first_s"]) / added,
                (high["rerun_s"] - low["rerun_s"]) / added)]
        for row in rows:
            if row.get("rerun_other_forks"):
                lines += ["", "Forks on %s: re-run %.1f s at forks %d (the rows above), %.1f s at forks %d." % (
                    row["setup"], row["rerun_s"], row["forks"], row["rerun_other_forks"]["s"],
                    row["rerun_other_forks"]["forks"])]
        if data.get("hosts_note"):
            lines += ["", data["hosts_note"]]
    mem = data.get("memory")
    if mem:
        names = sorted(set(mem["idle_mb"]) | set(mem["loaded_mb"]), key=lambda n: (n != "nginx", n))
        lines += ["", "**Resident memory** (VmRSS; nginx: master and workers together; under load: the highest of "
                  "samples every 0.5 s during wrk -c%d on /roundrobin, %s req/s, %d failed)" % (
                      mem["connections"], "{:,.0f}".format(mem["rps"]), mem["failed"]), "",
                  "| process | idle MB | under c=%d MB |" % mem["connections"], "| --- | ---: | ---: |"]
        for name in names:
            lines.append("| %s | %.1f | %.1f |" % (name, mem["idle_mb"].get(name, 0.0), mem["loaded_mb"].get(name, 0.0)))
    return lines


def targets(data):
    out = []
    rows = data.get("hosts") or []
    ten = [r for r in rows if r["apps"] == 10 and r["lbs"] == 2]
    if rows and ten:
        base, big = rows[0], ten[0]
        for key, what in (("first_s", "first converge"), ("rerun_s", "re-run")):
            ratio = big[key] / base[key]
            out.append(("%s, 10 app hosts + 2 LBs ÷ 1 host in both tiers ≤ %.1f" % (what, MAX_SCALE_RATIO),
                        "%.2f (%.1f s ÷ %.1f s)" % (ratio, big[key], base[key]), ratio <= MAX_SCALE_RATIO))
    elif rows:
        largest = max(rows, key=lambda r: r["apps"])
        out.append(("converge, 10 app hosts + 2 LBs ÷ 1 host in both tiers ≤ %.1f" % MAX_SCALE_RATIO,
                    "not run (largest: %d app hosts)" % largest["apps"], False))
    mem = data.get("memory")
    if mem:
        apps = {n: mb for n, mb in mem["loaded_mb"].items() if n != "nginx"}
        if apps:
            worst = max(apps.values())
            out.append(("app server resident memory per instance under c=%d ≤ %.0f MB" % (
                mem["connections"], MAX_APP_RSS_MB), "%.1f MB at most" % worst, worst <= MAX_APP_RSS_MB))
    return out
