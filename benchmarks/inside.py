#!/usr/bin/env python3
"""Runs inside the benchmark container (copied there by bench.py).

  inside.py wait URL...                 until every URL answers (30 s at most); prints URL STATUS BYTES
  inside.py load SECONDS CONNS URL...   wrk on the URLs at once (CONNS split over them), bounded by
                                        SECONDS; prints one JSON line: 2xx req/s, p50/p99 ms,
                                        failures, and CPU microseconds per request of nginx, the
                                        Python app servers and wrk (from /proc, before and after)
"""

import json
import os
import resource
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
HZ = os.sysconf("SC_CLK_TCK")
GROUPS = {"nginx": "nginx", "python3": "app"}


def wait(urls):
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    print(url, response.status, len(response.read()))
                    break
            except Exception as exc:  # not up yet
                if time.monotonic() > deadline:
                    raise SystemExit("%s: %s" % (url, exc))
                time.sleep(0.2)


def cpu_ticks():
    """Clock ticks used so far by nginx and the python3 processes, by group."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        group = GROUPS.get(comm)
        if group:
            fields = stat[stat.rindex(")") + 2:].split()
            ticks[(group, pid)] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def wrk_results(procs, timeout):
    """The WRKJSON line (report.lua) of each wrk process, waiting at most `timeout` s for each."""
    parts = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        line = [line for line in out.splitlines() if line.startswith("WRKJSON ")]
        if proc.returncode != 0 or not line:
            raise SystemExit("wrk failed (%d): %s %s" % (proc.returncode, out[-300:], err[-300:]))
        parts.append(json.loads(line[0][len("WRKJSON "):]))
    return parts


def load(seconds, connections, urls):
    shares = [connections // len(urls) + (1 if i < connections % len(urls) else 0) for i in range(len(urls))]
    before = cpu_ticks()
    procs = [subprocess.Popen(["wrk", "-t%d" % min(2, share if len(urls) == 1 else 1), "-c%d" % share,
                               "-d%ds" % seconds, "--timeout", "2s", "-s", os.path.join(HERE, "report.lua"), url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for url, share in zip(urls, shares) if share > 0]
    parts = wrk_results(procs, seconds + 30)
    after = cpu_ticks()
    requests = sum(p["requests"] for p in parts) or 1
    used = {}
    for key, ticks in after.items():
        used[key[0]] = used.get(key[0], 0) + ticks - before.get(key, 0)
    wrk_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {group: round(used.get(group, 0) / HZ / requests * 1e6, 1) for group in ("nginx", "app")}
    cpu["wrk"] = round((wrk_usage.ru_utime + wrk_usage.ru_stime) / requests * 1e6, 1)
    print(json.dumps({
        "rps": sum((p["requests"] - p["status"]) / (p["duration_us"] / 1e6) for p in parts),
        # one wrk: its own percentiles; several: request-weighted p50, worst p99
        "p50_ms": sum(p["p50_us"] * p["requests"] for p in parts) / requests / 1000.0,
        "p99_ms": max(p["p99_us"] for p in parts) / 1000.0,
        "requests": sum(p["requests"] for p in parts),
        "non2xx": sum(p["status"] for p in parts),
        "errors": sum(p["connect"] + p["read"] + p["write"] + p["timeout"] for p in parts),
        "cpu_us": cpu,
    }))


def main(argv):
    if len(argv) >= 2 and argv[0] == "wait":
        wait(argv[1:])
    elif len(argv) >= 4 and argv[0] == "load":
        load(int(argv[1]), int(argv[2]), argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
