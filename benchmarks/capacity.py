#!/usr/bin/env python3
"""`make bench`, capacity part: many connections and TLS, inside edgeops-bench.

Called by benchmarks/bench.py (measure(), report()) after its own phases, or
alone with `benchmarks/run.sh --only capacity`. Also copied into the
container, where `capacity.py hold SECONDS CONNS URL` runs one wrk and counts
nginx's open client connections (stub_status) while it runs, and
`capacity.py s_time -tls1_3|-tls1_2 -new|-reuse SECONDS` one timed openssl s_time. Every load is on loopback inside
the container and bounded in time (wrk -d, timeouts around every command).

  1. 10,000 keep-alive connections on /roundrobin, held HOLD_SECONDS (>= 20 s
     counted from when the last one is up): the collection's nginx.conf (:80)
     and, right after, Debian's stock nginx.conf (from the nginx-common
     package: worker_connections 768) in a second nginx master whose http
     block includes the collection's own server block on :8085 (same
     upstreams, same backends: only nginx.conf differs).
  2. site.yml again with load_balancer_tls mode selfsigned (redirect off, so
     :80 still proxies): https vs http on /roundrobin at 16 and 256
     connections, interleaved rounds.
  3. Full TLS handshakes per second (`openssl s_time -new`: no session reuse)
     and resumed ones (`-reuse`, nginx's shared session cache), TLS 1.3 and 1.2.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.request

CONNECTIONS = int(os.environ.get("BENCH_CAPACITY_CONNECTIONS", "10000"))
HOLD_SECONDS = int(os.environ.get("BENCH_CAPACITY_SECONDS", "20"))   # counted after the ramp
RAMP_SECONDS = 5            # connections are opened over this time; the hold is counted from its end
RAMP_STEPS = 10             # ... in this many groups (1,000 each): one wrk per group
# Each connection waits this long (uniform, 4 s on average) after every
# response: 10,000 clients offer about 2,500 req/s. At 1 s on average (10,000
# req/s offered) the 2-core host, shared with other work, fell behind: nginx's
# upstream connects timed out and every peer was marked failed (502s).
PACE_MS = (2000, 6000)
STATUS_OURS = "http://127.0.0.1:8091/status"
STATUS_STOCK = "http://127.0.0.1:8092/status"
STATUS_SERVER = ("server {\n    listen 127.0.0.1:%d;\n    access_log off;\n"
                 "    location = /status {\n        stub_status;\n    }\n}\n")
TLS_CONCURRENCY = [int(c) for c in os.environ.get("BENCH_TLS_CONCURRENCY", "16 256").split()]
HANDSHAKE_SECONDS = int(os.environ.get("BENCH_HANDSHAKE_SECONDS", "5"))
STOCK_PORT = 8085
HTTP_URL = "http://127.0.0.1:80/roundrobin"
STOCK_URL = "http://127.0.0.1:%d/roundrobin" % STOCK_PORT
HTTPS_URL = "https://127.0.0.1:443/roundrobin"
TLS_VARS = {"load_balancer_tls": {"mode": "selfsigned", "port": 443, "redirect": False, "http2": True,
                                  "hsts": False, "domains": []}}


# ---------------------------------------------------------------- inside the container

def active(status_url):
    """nginx's own count of open client connections (stub_status), less the status request itself.
    O(1) for nginx: reading /proc/net/tcp every second with 20,000 sockets slowed the
    whole host enough to time out nginx's upstream connects."""
    try:
        with urllib.request.urlopen(status_url, timeout=10) as response:
            return parse_stub_status(response.read().decode()) - 1
    except OSError:
        return None  # no answer in time: a missing sample, counted and reported


def parse_stub_status(text):
    match = re.match(r"\AActive connections: (\d+) ?\n", text)
    if not match:
        raise ValueError("not stub_status output: %r" % text[:80])
    return int(match.group(1))


def hold(seconds, connections, url, lua, status_url):
    """CONNECTIONS connections opened in RAMP_STEPS groups over RAMP_SECONDS (one
    wrk each, started RAMP_SECONDS/RAMP_STEPS apart, all ending together), then
    held: nginx's count of open client connections sampled from the end of the
    ramp until SECONDS later, while every wrk still runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = connections // RAMP_STEPS + 64
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SystemExit("the descriptor limit (hard %d) is below the %d a client needs" % (hard, need))
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, need), hard))
    total = RAMP_SECONDS + seconds + 3
    started = time.monotonic()
    procs = []
    for step in range(RAMP_STEPS):
        time.sleep(max(0.0, started + step * RAMP_SECONDS / RAMP_STEPS - time.monotonic()))
        share = connections // RAMP_STEPS + (1 if step < connections % RAMP_STEPS else 0)
        left = max(1, int(round(total - (time.monotonic() - started))))
        procs.append(subprocess.Popen(["wrk", "-t1", "-c%d" % share, "-d%ds" % left, "--timeout", "10s", "-s", lua,
                                       url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    time.sleep(max(0.0, started + RAMP_SECONDS - time.monotonic()))
    samples = []
    while all(proc.poll() is None for proc in procs):
        samples.append((time.monotonic() - started, active(status_url)))
        if samples[-1][0] - samples[0][0] >= seconds:
            break
        time.sleep(1)
    from inside import wrk_results  # pylint: disable=import-outside-toplevel  (beside this file in the container)
    print(json.dumps(summary(wrk_results(procs, total + 30), samples, connections, seconds)))


def s_time(version, mode, seconds):
    """openssl s_time against nginx on 127.0.0.1:443, its output, then `WALL <seconds>` it took."""
    started = time.monotonic()
    proc = subprocess.run(["openssl", "s_time", "-connect", "127.0.0.1:443", version, mode, "-time", str(seconds),
                           "-www", "/"], capture_output=True, text=True, timeout=seconds + 30, check=False)
    print(proc.stdout + proc.stderr)
    print("WALL %.3f" % (time.monotonic() - started))


def summary(parts, samples, connections, seconds):
    """The wrk runs of one hold together: requests and errors summed, req/s over
    the longest run, p50 request-weighted, p99 and max the worst of the runs."""
    errors = {key: sum(p[key] for p in parts) for key in ("connect", "read", "write", "timeout")}
    errors["non2xx"] = sum(p["status"] for p in parts)
    requests = sum(p["requests"] for p in parts)
    duration = max(p["duration_us"] for p in parts) / 1e6
    return {
        "connections": connections,
        "hold_s": seconds,
        "duration_s": duration,
        "rps": (requests - errors["non2xx"]) / duration,
        "requests": requests,
        "p50_ms": sum(p["p50_us"] * p["requests"] for p in parts) / max(requests, 1) / 1000.0,
        "p99_ms": max(p["p99_us"] for p in parts) / 1000.0,
        "max_ms": max(p["max_us"] for p in parts) / 1000.0,
        "errors": errors,
        "failed": sum(errors.values()),
        "samples": len(samples),
        "samples_missing": sum(1 for _, n in samples if n is None),
        # seconds from the first to the last sample
        "span_s": round(samples[-1][0] - samples[0][0], 1) if samples else 0,
        "open_min": min((n for _, n in samples if n is not None), default=0),
        "open_max": max((n for _, n in samples if n is not None), default=0),
    }


def parse_s_time(text):
    """`openssl s_time` output followed by a line `WALL <seconds>` (the run's
    wall time, measured around it: s_time's own "real seconds" are whole
    seconds): connections per second, and how many were resumed."""
    match = re.search(r"(\d+) connections in (\d+) real seconds", text)
    wall = re.search(r"(?m)^WALL (\d+(?:\.\d+)?)$", text)
    if not match or not wall:
        raise ValueError("no 'N connections in T real seconds' and WALL line in openssl s_time's output: %r"
                         % text[-300:])
    count, seconds = int(match.group(1)), float(wall.group(1))
    # one mark per connection: 'r' resumed, '*' (or 't', '3') a full handshake
    progress = "".join(re.findall(r"(?m)^[*rt3]+$", text[:match.start()]))
    return {"connections": count, "seconds": seconds, "per_s": count / seconds if seconds > 0 else 0.0,
            "resumed": progress.count("r"), "marks": len(progress)}


# ---------------------------------------------------------------- on the controller

def stock_nginx_conf(bench):
    """Debian's own nginx.conf, read from the installed nginx-common package."""
    text = bench.inside(
        "set -e; cd /tmp; deb=$(ls /var/cache/apt/archives/nginx-common_*.deb 2>/dev/null | head -1); "
        "if [ -z \"$deb\" ]; then apt-get download -qq nginx-common=$(dpkg-query -W -f '${Version}' nginx-common) "
        ">/dev/null 2>&1 || { apt-get update -qq && apt-get download -qq nginx-common=$(dpkg-query -W -f "
        "'${Version}' nginx-common) >/dev/null; }; deb=$(ls /tmp/nginx-common_*.deb | head -1); fi; "
        "dpkg-deb --fsys-tarfile \"$deb\" | tar -xO ./etc/nginx/nginx.conf", timeout=300)
    if "worker_connections 768;" not in text:
        raise ValueError("the stock nginx.conf has no `worker_connections 768;`")
    return text


def stock_setup(bench, live_upstream):
    """A second nginx master: the stock nginx.conf, its conf.d include pointed at
    a copy of the collection's upstream.conf listening on :8085 (pid and logs apart)."""
    work = bench.WORK + "/stock"
    server, listens = re.subn(r"(?m)^    listen 80;$", "    listen 127.0.0.1:%d;" % STOCK_PORT, live_upstream)
    server, logs = re.subn(r"(?m)^(    access_log )\S+", r"\1/var/log/nginx/stock.access.log", server)
    if listens != 1 or logs != 1 or " ssl" in server:
        raise ValueError("upstream.conf: expected one plain `listen 80;` and one access_log")
    server += STATUS_SERVER % 8092
    main = stock_nginx_conf(bench)
    main, pids = re.subn(r"(?m)^pid\s+\S+;", "pid /run/nginx-stock.pid;", main)
    main, includes = re.subn(r"include /etc/nginx/conf\.d/\*\.conf;", "include %s/upstream.conf;" % work, main)
    main = re.sub(r"include /etc/nginx/sites-enabled/\*;", "", main)
    main = re.sub(r"(?m)^error_log\s+\S+;", "error_log /var/log/nginx/stock-error.log;", main)
    if pids != 1 or includes != 1:
        raise ValueError("unexpected stock nginx.conf: no single pid / conf.d include line")
    bench.put(server, work + "/upstream.conf")
    bench.put(main, work + "/nginx.conf")
    bench.inside("nginx -t -q -c {0}/nginx.conf && nginx -c {0}/nginx.conf".format(work))
    bench.wait_http([STOCK_URL, STATUS_STOCK])
    return main


def stock_stop(bench):
    bench.inside("if [ -s /run/nginx-stock.pid ]; then kill -QUIT $(cat /run/nginx-stock.pid); fi", check=False)


def hold_run(bench, name, url, status_url):
    bench.log("capacity: %d connections on %s, opened over %d s, held %d s (%s)" % (
        CONNECTIONS, url, RAMP_SECONDS, HOLD_SECONDS, name))
    total = RAMP_SECONDS + HOLD_SECONDS + 3
    out = bench.inside("timeout %d python3 %s/capacity.py hold %d %d %s %s/paced.lua %s" % (
        total + 40, bench.WORK, HOLD_SECONDS, CONNECTIONS, url, bench.WORK, status_url), timeout=total + 60)
    result = json.loads(out.strip().splitlines()[-1])
    bench.log("  %.0f req/s  p50 %.1f ms  p99 %.1f ms  failed %d %s  open %d-%d over %d samples in %.1f s" % (
        result["rps"], result["p50_ms"], result["p99_ms"], result["failed"], result["errors"],
        result["open_min"], result["open_max"], result["samples"], result["span_s"]))
    return result


def load_url(bench, url, connections, duration):
    out = bench.inside("timeout %d python3 %s/inside.py load %d %d %s" % (
        duration + 40, bench.WORK, duration, connections, url), timeout=duration + 60)
    return json.loads(out.strip().splitlines()[-1])


def tls_vs_http(bench):
    results = {"http": {c: [] for c in TLS_CONCURRENCY}, "https": {c: [] for c in TLS_CONCURRENCY}}
    for url in (HTTP_URL, HTTPS_URL):
        load_url(bench, url, 16, 1)  # warm up
    for round_number in range(bench.ROUNDS):
        for connections in TLS_CONCURRENCY:
            order = ("http", "https") if round_number % 2 == 0 else ("https", "http")
            for scheme in order:
                result = load_url(bench, HTTP_URL if scheme == "http" else HTTPS_URL, connections, bench.DURATION)
                results[scheme][connections].append(result)
                bench.log("capacity round %d c=%-3d %-5s %7.0f req/s  p99 %7.2f ms  failed %d" % (
                    round_number + 1, connections, scheme, result["rps"], result["p99_ms"],
                    result["non2xx"] + result["errors"]))
    out = {scheme: {c: bench.median(runs) for c, runs in per_c.items()} for scheme, per_c in results.items()}
    # https ÷ http of each round (the two runs side by side), then the median:
    # the machine's other load moves both runs of a round alike.
    out["ratio"] = {c: sorted(s["rps"] / max(h["rps"], 1) for h, s in zip(results["http"][c], results["https"][c]))
                    [len(results["http"][c]) // 2] for c in TLS_CONCURRENCY}
    return out


def handshakes(bench):
    rows = []
    for version in ("-tls1_3", "-tls1_2"):
        row = {"version": "TLS 1.3" if version == "-tls1_3" else "TLS 1.2"}
        for mode in ("new", "reuse"):
            out = bench.inside("python3 %s/capacity.py s_time %s -%s %d" % (
                bench.WORK, version, mode, HANDSHAKE_SECONDS), timeout=HANDSHAKE_SECONDS + 60)
            row[mode] = parse_s_time(out)
        bench.log("capacity handshakes %s: %.0f/s new, %.0f/s with resumption (%d of %d resumed)" % (
            row["version"], row["new"]["per_s"], row["reuse"]["per_s"], row["reuse"]["resumed"],
            row["reuse"]["connections"]))
        rows.append(row)
    return rows


def measure(bench):
    """The capacity phases against the converged container (bench is the bench module)."""
    bench.log("capacity: openssl and the helpers in the container")
    bench.inside("command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl "
                 ">/dev/null", timeout=300)
    for helper in ("report.lua", "inside.py", "capacity.py"):
        bench.put((bench.HERE / helper).read_text(), "%s/%s" % (bench.WORK, helper))
    bench.put((bench.HERE / "report.lua").read_text() + "\n-- capacity.py: a pause after every response\n"
              "delay = function() return math.random(%d, %d) end\n" % PACE_MS, bench.WORK + "/paced.lua")
    bench.put("# benchmarks/capacity.py: nginx's connection count. Removed with the container.\n" +
              STATUS_SERVER % 8091, "/etc/nginx/conf.d/zz-capacity-status.conf")
    bench.inside("nginx -t -q && systemctl reload nginx")
    bench.wait_http([STATUS_OURS])
    data = {"limits": {
        "container_nofile_hard": int(bench.inside("ulimit -Hn").strip()),
        "nginx_worker_nofile": bench.inside("grep 'open files' /proc/$(pgrep -f 'nginx: worker' | head -1)/limits "
                                            "| awk '{print $4}'").strip(),
        "worker_connections": bench.inside("grep -o 'worker_connections [0-9]*' /etc/nginx/nginx.conf").split()[-1],
    }}
    live = bench.inside("cat /etc/nginx/conf.d/upstream.conf")
    bench.wait_http([HTTP_URL])
    data["hold"] = {"ours": hold_run(bench, "collection nginx.conf", HTTP_URL, STATUS_OURS)}
    stock_setup(bench, live)
    try:
        data["hold"]["stock"] = hold_run(bench, "stock Debian nginx.conf", STOCK_URL, STATUS_STOCK)
    finally:
        stock_stop(bench)
    # site.yml's lb_verify checks every proxied location it finds, in every
    # server block, through the site's one address: the tuning ladder's
    # server blocks (zz-edgeops-bench.conf, other ports, done by now) go first.
    bench.inside("rm -f /etc/nginx/conf.d/zz-edgeops-bench.conf && nginx -t -q && systemctl reload nginx")
    bench.log("capacity: site.yml with load_balancer_tls mode selfsigned")
    converge = bench.playbook("capacity-tls", bench.ROOT / "playbooks" / "site.yml", TLS_VARS)
    data["tls_converge_s"] = converge["wall_s"]
    bench.wait_http([HTTP_URL])
    data["tls"] = tls_vs_http(bench)
    data["handshakes"] = handshakes(bench)
    return data


# ---------------------------------------------------------------- report

def targets(cap):
    """bench.py's targets table: the held connections with 0 errors."""
    ours = cap["hold"]["ours"]
    held = (ours["open_min"] >= ours["connections"] and ours["span_s"] >= ours["hold_s"]
            and not ours.get("samples_missing"))
    return [{"target": "%s connections held ≥ %d s, 0 errors" % ("{:,}".format(ours["connections"]), ours["hold_s"]),
             "measured": "%s open at the least over %.1f s, %d failed%s" % (
                 "{:,}".format(ours["open_min"]), ours["span_s"], ours["failed"],
                 ", %d samples unanswered" % ours["samples_missing"] if ours.get("samples_missing") else ""),
             "met": held and ours["failed"] == 0}]


def report(data, fmt_rps, fmt_ms):
    cap = data.get("capacity")
    if not cap:
        return ""
    limits = cap["limits"]
    lines = ["", "**Capacity: %s keep-alive connections on /roundrobin** (opened over %d s by %d wrk processes, "
             "then held %d s; each connection pauses %d-%d ms after every response; `--timeout 10s`; open = nginx's "
             "stub_status count of client connections, sampled every second while held. The container's descriptor "
             "limit is %s (the machine's), so nginx's workers run with %s, not `worker_rlimit_nofile`; "
             "worker_connections %s)" % (
                 "{:,}".format(cap["hold"]["ours"]["connections"]), RAMP_SECONDS, RAMP_STEPS,
                 cap["hold"]["ours"]["hold_s"], PACE_MS[0], PACE_MS[1], limits["container_nofile_hard"],
                 limits["nginx_worker_nofile"], limits["worker_connections"]), "",
             "| nginx.conf | open while held (min–max) | req/s | p50 ms | p99 ms | failed | connect / read / write / "
             "timeout / non-2xx |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, label in (("ours", "the collection's"), ("stock", "Debian's stock (worker_connections 768)")):
        r = cap["hold"].get(name)
        if r:
            e = r["errors"]
            lines.append("| %s | %s–%s | %s | %s | %s | **%s** | %d / %d / %d / %d / %d |" % (
                label, "{:,}".format(r["open_min"]), "{:,}".format(r["open_max"]), fmt_rps(r["rps"]),
                fmt_ms(r["p50_ms"]), fmt_ms(r["p99_ms"]), "{:,}".format(r["failed"]), e["connect"], e["read"],
                e["write"], e["timeout"], e["non2xx"]))
    tls = cap["tls"]
    lines += ["", "**https vs http on /roundrobin** (the same server block on :443 with a self-signed EC P-256 "
              "certificate and on :80; wrk keeps its connections, so handshakes are not in these figures; "
              "req/s and p99: the median of the rounds; https ÷ http: the median of each round's ratio, both "
              "runs of a round side by side)", "",
              "| c | http req/s | p99 ms | https req/s | p99 ms | https ÷ http | failed |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in sorted(tls["http"], key=int):
        h, s = tls["http"][c], tls["https"][c]
        lines.append("| %s | %s | %s | %s | %s | **%.2f** | %d |" % (
            c, fmt_rps(h["rps"]), fmt_ms(h["p99_ms"]), fmt_rps(s["rps"]), fmt_ms(s["p99_ms"]),
            tls["ratio"][c] if "ratio" in tls else s["rps"] / max(h["rps"], 1), h["non2xx"] + h["errors"] + s["non2xx"] + s["errors"]))
    lines += ["", "**TLS handshakes per second** (`openssl s_time`, one client process, %d s each, `GET /` "
              "answered 404 by nginx itself)" % HANDSHAKE_SECONDS, "",
              "| protocol | new handshakes/s | with session resumption/s | resumed | resumed ÷ new |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for row in cap["handshakes"]:
        new, reuse = row["new"], row["reuse"]
        lines.append("| %s | %s | %s | %d of %d | %.1f× |" % (
            row["version"], fmt_rps(new["per_s"]), fmt_rps(reuse["per_s"]), reuse["resumed"], reuse["connections"],
            reuse["per_s"] / new["per_s"] if new["per_s"] else 0))
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) == 6 and argv[0] == "hold":
        hold(int(argv[1]), int(argv[2]), argv[3], argv[4], argv[5])
        return 0
    if len(argv) == 4 and argv[0] == "s_time" and argv[1] in ("-tls1_2", "-tls1_3") and argv[2] in ("-new", "-reuse"):
        s_time(argv[1], argv[2], int(argv[3]))
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
