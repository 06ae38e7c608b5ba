"""`benchmarks/run.sh --only sites`: many server blocks (load_balancer_sites)
in the benchmark container, loopback only, every load run bounded in time.

- Template + validation for 10, 50 and 100 sites of 10 upstreams of 10
  servers each (the role's preflight, render and nginx -t, as
  benchmarks/scale.yml runs them; nothing on the host changes): the time of
  each step and the marginal cost per added site.
- A reload under load with 100 sites live: the project's poller, then wrk,
  through one site's name (Host header) while nginx reloads three times;
  every failed request counted.
"""

import json
import threading
import time

SITE_COUNTS = (10, 50, 100)
UPSTREAMS_PER_SITE = 10
SERVERS_PER_UPSTREAM = 10
LOAD_SECONDS = 12
RELOADS = 3
# What the model, render and validate steps are called in scale.yml's records.
TASKS = {"model": "Build the upstream and location model", "render": "Render the candidate configuration",
         "validate": "Validate the candidate with nginx -t"}


def generated_sites(count):
    """`count` sites, each with its own 10 upstreams of 10 servers (addresses never contacted) and a location each."""
    upstreams, sites = [], []
    for site in range(count):
        locations = []
        for index in range(UPSTREAMS_PER_SITE):
            name = "s%03du%d" % (site, index)
            number = site * UPSTREAMS_PER_SITE + index
            upstreams.append({"name": name, "servers": [
                {"address": "10.%d.%d.%d:7001" % (number // 250 + 1, number % 250, server + 1)}
                for server in range(SERVERS_PER_UPSTREAM)]})
            locations.append({"path": "/" + name, "upstream": name})
        sites.append({"name": "site%03d" % site, "server_names": ["site%03d.example.test" % site],
                      "locations": locations})
    return {"load_balancer_upstreams": upstreams, "load_balancer_sites": sites}


def live_sites(count):
    """`count` sites on the three tutorial app servers, each with its own upstream, for the reload under load."""
    servers = [{"address": "127.0.0.1:%d" % port} for port in (7001, 7002, 7003)]
    return {"load_balancer_upstreams": [{"name": "live%03d" % site, "servers": servers} for site in range(count)],
            "load_balancer_sites": [{"name": "site%03d" % site, "server_names": ["site%03d.example.test" % site],
                                     "locations": [{"path": "/", "upstream": "live%03d" % site}]}
                                    for site in range(count)]}


def template_and_validation(bench):
    rows = []
    for count in SITE_COUNTS:
        best = None
        for attempt in (1, 2):
            bench.log("template + validation, %d sites (try %d)" % (count, attempt))
            result = bench.playbook("sites-%d-%d" % (count, attempt), bench.HERE / "scale.yml", generated_sites(count))
            times = {key: sum(t["seconds"] for t in result["records"] if t["name"].endswith(name))
                     for key, name in TASKS.items()}
            row = dict(times, sites=count, servers=count * UPSTREAMS_PER_SITE * SERVERS_PER_UPSTREAM,
                       total=round(sum(times.values()), 2))
            if best is None or row["total"] < best["total"]:
                best = row
        rows.append(best)
    return rows


# The project's own poller (plugins/module_utils/_http_poll.py), as the
# resilience scenario's reload test runs it: 16 keep-alive clients, and a GET
# whose keep-alive connection the server closed before any byte of the answer
# is sent again once (as browsers and HTTP libraries do); every other error,
# and a second such close, is a failed request.
POLL = r'''
import json, sys, time
sys.path.insert(0, "/var/tmp")
from _http_poll import poll
seconds, host = float(sys.argv[1]), sys.argv[2]
total = {"requests": 0, "failed": 0, "retried": 0, "errors": {}}
started = time.monotonic()
while time.monotonic() - started < seconds:
    result = poll("http://127.0.0.1:80", "/", 10 ** 6, concurrency=16, timeout=5, deadline_s=1.0, server_name=host)
    total["requests"] += result.requests
    total["failed"] += result.failed
    total["retried"] += result.retried
    for kind, n in result.errors.items():
        total["errors"][kind] = total["errors"].get(kind, 0) + n
total["seconds"] = round(time.monotonic() - started, 1)
print(json.dumps(total))
'''


def _under_reloads(bench, command, timeout):
    """`command` in the container on a thread while nginx reloads RELOADS times; its output."""
    out = {}
    load = threading.Thread(target=lambda: out.setdefault("text", bench.inside(command, timeout=timeout)))
    load.start()
    time.sleep(2)
    for dummy in range(RELOADS):
        bench.inside("systemctl reload nginx")
        time.sleep((LOAD_SECONDS - 4) / RELOADS)
    load.join(timeout + 20)
    return out.get("text", "")


def reload_under_load(bench):
    """site.yml with 100 live sites, then through site050's name during
    RELOADS reloads: the project's poller (failures counted), then wrk
    (which never sends a request again: its read errors are reported)."""
    count = SITE_COUNTS[-1]
    converge = bench.playbook("sites-live", bench.ROOT / "playbooks" / "site.yml",
                              dict(live_sites(count), nginx_lb_verify_requests=30))
    host = "site%03d.example.test" % (count // 2)
    bench.put((bench.ROOT / "plugins" / "module_utils" / "_http_poll.py").read_text(), "/var/tmp/_http_poll.py")
    bench.put(POLL, "/var/tmp/sites_poll.py")
    polled = json.loads(_under_reloads(bench, "timeout %d python3 /var/tmp/sites_poll.py %d %s" % (
        LOAD_SECONDS + 30, LOAD_SECONDS, host), LOAD_SECONDS + 60).strip().splitlines()[-1])
    text = _under_reloads(bench, "timeout %d wrk -t2 -c16 -d%ds -H 'Host: %s' -s %s/report.lua http://127.0.0.1:80/"
                          % (LOAD_SECONDS + 20, LOAD_SECONDS, host, bench.WORK), LOAD_SECONDS + 40)
    line = [text for text in text.splitlines() if text.startswith("WRKJSON")][0]
    result = json.loads(line.split(" ", 1)[1])
    return {"sites": count, "converge_s": converge["wall_s"], "host": host, "seconds": LOAD_SECONDS,
            "reloads": RELOADS, "requests": polled["requests"], "retried": polled["retried"],
            "errors": polled["errors"], "failed": polled["failed"],
            "wrk": {"requests": result["requests"], "rps": round(result["requests"] / (result["duration_us"] / 1e6)),
                    "p99_ms": round(result["p99_us"] / 1000, 2), "connect": result["connect"], "read": result["read"],
                    "write": result["write"], "timeout": result["timeout"], "non_2xx": result["status"]}}


def measure(bench):
    return {"template": template_and_validation(bench), "reload": reload_under_load(bench)}


def report(data):
    if not data:
        return ""
    rows = data["template"]
    lines = ["", "**Many sites: template + validation** (%d upstreams of %d servers per site; the role's preflight, "
             "render and nginx -t in the container, the better of two tries)" % (UPSTREAMS_PER_SITE,
                                                                                 SERVERS_PER_UPSTREAM), "",
             "| sites | servers | model s | render s | nginx -t s | total s |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append("| %d | %d | %.2f | %.2f | %.2f | %.2f |" % (row["sites"], row["servers"], row["model"],
                                                                  row["render"], row["validate"], row["total"]))
    first, last = rows[0], rows[-1]
    lines += ["", "Marginal cost per added site (%d to %d): %.1f ms." % (
        first["sites"], last["sites"], 1000 * (last["total"] - first["total"]) / (last["sites"] - first["sites"]))]
    reload = data["reload"]
    wrk = reload["wrk"]
    lines += ["", "**Reload under load with %d sites** (through %s for %d s each, %d reloads each): the project's "
              "poller (16 keep-alive clients, a GET whose idle connection nginx closed sent again once) %d requests, "
              "%d sent again, **%d failed**; wrk -c16 (never sends again) %d requests, %d req/s, p99 %.2f ms, "
              "connect / read / write / timeout / non-2xx %d / %d / %d / %d / %d." % (
                  reload["sites"], reload["host"], reload["seconds"], reload["reloads"], reload["requests"],
                  reload["retried"], reload["failed"], wrk["requests"], wrk["rps"], wrk["p99_ms"], wrk["connect"],
                  wrk["read"], wrk["write"], wrk["timeout"], wrk["non_2xx"])]
    return "\n".join(lines) + "\n"
