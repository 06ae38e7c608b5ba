"""`make bench`, TCP and UDP streams: connections per second and
datagrams per second through nginx's stream module against the same
backends reached directly, side by side, from one run (ratios, never timed
tests).

The benchmark container gets streams from the role itself (site.yml with
load_balancer_streams and the app server's TCP and UDP instances), then a
small asyncio client inside it opens connections (each answered by one line
and closed) or sends datagrams (each answered by one datagram), C at a time,
for DURATION seconds, against nginx and against the backends, interleaved
over ROUNDS rounds; each figure is the median. Loopback of the container
only, bounded in time.
"""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TCP_BACKENDS = (7301, 7302, 7303)
UDP_BACKENDS = (7401, 7402, 7403)
TCP_LISTEN = 7300
UDP_LISTEN = 7400
CONCURRENCY = 8

STREAM_VARS = {
    "app_servers_tcp_ports": list(TCP_BACKENDS),
    "app_servers_udp_ports": list(UDP_BACKENDS),
    "load_balancer_streams": [
        {"name": "bench_tcp", "listen": TCP_LISTEN,
         "servers": [{"address": "127.0.0.1:%d" % port} for port in TCP_BACKENDS]},
        {"name": "bench_udp", "listen": UDP_LISTEN, "protocol": "udp", "proxy_timeout": "5s",
         "servers": [{"address": "127.0.0.1:%d" % port} for port in UDP_BACKENDS]},
    ],
    # The verification is measured by bench.py itself; here only the rate counts.
    "nginx_lb_verify": False,
}

# Runs inside the container: `stream_load.py tcp|udp SECONDS CONCURRENCY PORT...`
# -> one JSON line {"ok": n, "errors": n, "rate": ok per second}.
LOAD = r'''
import asyncio, json, sys, time

protocol, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
ports = [int(p) for p in sys.argv[4:]]


class Answer(asyncio.DatagramProtocol):
    def __init__(self):
        self.waiting = None

    def datagram_received(self, data, addr):
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(data)


async def tcp(port, stop, tally):
    while time.monotonic() < stop:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            line = await asyncio.wait_for(reader.readline(), 2)
            writer.close()
            tally["ok" if line.endswith(b"\n") else "errors"] += 1
        except (OSError, asyncio.TimeoutError):
            tally["errors"] += 1


async def udp(port, stop, tally):
    loop = asyncio.get_running_loop()
    transport, answer = await loop.create_datagram_endpoint(Answer, remote_addr=("127.0.0.1", port))
    try:
        while time.monotonic() < stop:
            answer.waiting = loop.create_future()
            transport.sendto(b"bench\n")
            try:
                await asyncio.wait_for(answer.waiting, 1)
                tally["ok"] += 1
            except asyncio.TimeoutError:
                tally["errors"] += 1
    finally:
        transport.close()


async def main():
    tally = {"ok": 0, "errors": 0}
    started = time.monotonic()
    stop = started + seconds
    worker = tcp if protocol == "tcp" else udp
    await asyncio.gather(*(worker(ports[i % len(ports)], stop, tally) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    print(json.dumps(dict(tally, rate=tally["ok"] / elapsed)))


asyncio.run(main())
'''


def _median(values):
    values = sorted(values)
    half = len(values) // 2
    return values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2


def measure(playbook, inside, put, log, work, duration, rounds):
    """Converge streams into the benchmark container, then measure. Returns
    {"tcp": {...}, "udp": {...}}, each with direct and nginx rates (medians),
    the ratio nginx/direct, and the errors seen."""
    log("streams: converging site.yml with a TCP and a UDP stream")
    converge = playbook("converge-streams", ROOT / "playbooks" / "site.yml", extra_vars=STREAM_VARS)
    put(LOAD, "%s/stream_load.py" % work)
    targets = {
        "tcp": {"direct": TCP_BACKENDS, "nginx": (TCP_LISTEN,)},
        "udp": {"direct": UDP_BACKENDS, "nginx": (UDP_LISTEN,)},
    }
    runs = {protocol: {name: [] for name in per} for protocol, per in targets.items()}
    for round_number in range(rounds):
        for protocol, per in targets.items():
            names = list(per)
            # each round starts at the other one, so neither is always first
            for name in names[round_number % 2:] + names[:round_number % 2]:
                out = inside("timeout %d python3 %s/stream_load.py %s %d %d %s" % (
                    duration + 30, work, protocol, duration, CONCURRENCY, " ".join(str(p) for p in per[name])),
                    timeout=duration + 60)
                result = json.loads(out.strip().splitlines()[-1])
                runs[protocol][name].append(result)
                log("round %d %s %-6s %8.0f %s/s  errors %d" % (
                    round_number + 1, protocol, name, result["rate"],
                    "connections" if protocol == "tcp" else "datagrams", result["errors"]))
    results = {"converge_s": converge["wall_s"], "concurrency": CONCURRENCY, "duration_s": duration,
               "rounds": rounds}
    for protocol, per in runs.items():
        direct = _median([r["rate"] for r in per["direct"]])
        nginx = _median([r["rate"] for r in per["nginx"]])
        results[protocol] = {"direct": round(direct, 1), "nginx": round(nginx, 1),
                             "ratio": round(nginx / direct, 3) if direct else None,
                             "errors": sum(r["errors"] for runs_ in per.values() for r in runs_),
                             "answered": sum(r["ok"] for runs_ in per.values() for r in runs_)}
    return results


def report(results):
    """The streams' section of latest.md ('' when the run has none)."""
    if not results:
        return ""
    lines = ["", "### TCP and UDP streams (nginx's stream module)", "",
             "%d clients at a time, %d s per run, median of %d interleaved rounds; each TCP connection is answered "
             "by one line and closed, each UDP datagram by one datagram." % (
                 results["concurrency"], results["duration_s"], results["rounds"]), "",
             "| | direct to the 3 backends | through nginx | nginx / direct | errors |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for protocol, unit in (("tcp", "TCP connections/s"), ("udp", "UDP datagrams/s")):
        row = results[protocol]
        lines.append("| %s | %s | %s | %.2f | %d |" % (unit, "{:,.0f}".format(row["direct"]),
                                                         "{:,.0f}".format(row["nginx"]), row["ratio"] or 0,
                                                         row["errors"]))
    return "\n".join(lines) + "\n"
