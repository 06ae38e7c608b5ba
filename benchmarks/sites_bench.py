"""`benchmarks/run.sh --only sites`: many server blocks (load_balancer_sites)
in the benchmark container, loopback only, every load run bounded in time.

- Template + validation for 10, 50 and 100 sites of 10 upstreams of 10
  servers each (the role's preflight, render and nginx -t, as
  benchmarks/scale.yml runs them; nothing on the host changes): the time of
  each step and the marginal cost per added site.
- A reload under load with 100 sites live: wrk through one site's name
  (Host header) while nginx reloads three times; every failed request
  (connect, read, write, timeout, non-2xx) counted.
"""

import json
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


def reload_under_load(bench):
    """site.yml with 100 live sites, then wrk through site050's name during RELOADS reloads."""
    count = SITE_COUNTS[-1]
    converge = bench.playbook("sites-live", bench.ROOT / "playbooks" / "site.yml",
                              dict(live_sites(count), nginx_lb_verify_requests=30))
    host = "site%03d.example.test" % (count // 2)
    bench.inside("rm -f /tmp/sites-wrk.out; (timeout %d wrk -t2 -c16 -d%ds -H 'Host: %s' -s %s/report.lua "
                 "http://127.0.0.1/ > /tmp/sites-wrk.out 2>&1 &)" % (LOAD_SECONDS + 20, LOAD_SECONDS, host, bench.WORK))
    time.sleep(2)
    for dummy in range(RELOADS):
        bench.inside("systemctl reload nginx")
        time.sleep((LOAD_SECONDS - 4) / RELOADS)
    bench.inside("for i in $(seq 60); do grep -q WRKJSON /tmp/sites-wrk.out && break; sleep 1; done")
    line = [text for text in bench.inside("cat /tmp/sites-wrk.out").splitlines() if text.startswith("WRKJSON")][0]
    result = json.loads(line.split(" ", 1)[1])
    failed = result["connect"] + result["read"] + result["write"] + result["timeout"] + result["status"]
    return {"sites": count, "converge_s": converge["wall_s"], "host": host, "seconds": LOAD_SECONDS,
            "reloads": RELOADS, "requests": result["requests"],
            "rps": round(result["requests"] / (result["duration_us"] / 1e6)), "p99_ms": round(result["p99_us"] / 1000, 2),
            "failed": failed}


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
    lines += ["", "**Reload under load with %d sites** (wrk -c16 through %s for %d s, %d reloads): %d requests, "
              "%d req/s, p99 %.2f ms, **%d failed**." % (reload["sites"], reload["host"], reload["seconds"],
                                                         reload["reloads"], reload["requests"], reload["rps"],
                                                         reload["p99_ms"], reload["failed"])]
    return "\n".join(lines) + "\n"
