#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_verify
short_description: Prove by measurement that nginx balances each location as configured
version_added: 0.1.0
author: edgeops engineers (@edgeops)
description:
  - Polls each location of a running load balancer over HTTP (keep-alive, optional concurrency, bounded in
    count and time) and counts which backend answered, from a response header (default C(X-Backend)) or a
    regex on the body.
  - Compares the counts with what nginx's balancing method must give, from nginx's own algorithms.
    C(round_robin) and weights, and C(least_conn) polled sequentially - the exact smooth weighted round robin
    counts (within I(tolerance) per server). C(ip_hash) - every client sticks to one backend; with I(clients)
    and a loopback I(url) it sends from 127.0.N.1 so clients differ in the hashed third octet, and checks nginx's
    ip_hash formula. C(least_conn) under I(concurrency) - every server is chosen; with C(slow_backend) the slow
    one gets clearly less than its round-robin share. C(random) - chi-square fit to the weights.
    C(random two) and C(hash) - no weight expectation (C(hash) - sticky). C(backup) and C(down) servers - no
    traffic while the primaries are up.
  - With no I(locations) it reads the live nginx configuration with the collection's parser and checks every
    proxied location against its upstream.
options:
  url:
    description: Base URL of the load balancer, as seen from the host the module runs on.
    type: str
    default: http://127.0.0.1
  locations:
    description: Locations to check. Default - every proxied location of I(config_path).
    type: list
    elements: dict
    suboptions:
      path:
        description: Location path, for example C(/weighted).
        type: str
        required: true
      upstream:
        description: Upstream name; default - the one the live config proxies I(path) to.
        type: str
      expect:
        description: The expectation; C(auto) derives it from the upstream's method.
        type: str
        choices: [auto, round_robin, least_conn, ip_hash, sticky, random, any]
        default: auto
      servers:
        description: Backend addresses (C(host:port)), instead of the upstream's.
        type: list
        elements: str
      weights:
        description: Weights of the servers, in order, instead of the configured ones.
        type: list
        elements: int
      slow_backend:
        description: A backend (C(host:port) or port) made slow; with C(least_conn) under concurrency it must get clearly less than its share.
        type: str
  requests:
    description: Requests per location (split across I(clients) for ip_hash and hash).
    type: int
    default: 120
  concurrency:
    description: Parallel keep-alive connections per location.
    type: int
    default: 1
  timeout:
    description: Seconds per request.
    type: float
    default: 5
  deadline:
    description: Seconds at most per location and client; the loop stops by itself then.
    type: float
    default: 120
  clients:
    description: For ip_hash and hash, the number of client source addresses (127.0.N.1) on a loopback I(url).
    type: int
    default: 1
  tolerance:
    description: How far a round-robin count may be from the exact smooth weighted round robin count.
    type: int
    default: 1
  max_errors:
    description: Failed requests (non-2xx, timeouts, connection failures) tolerated per location.
    type: int
    default: 0
  backend_header:
    description: Response header that names the backend.
    type: str
    default: X-Backend
  backend_regex:
    description: Regex on the body whose group 1 names the backend instead, for example C(<h1>(\d+)</h1>) for the tutorial's app (a port).
    type: str
  config_path:
    description: nginx main configuration, read when I(locations) or an I(upstream) is not given.
    type: path
    default: /etc/nginx/nginx.conf
  fail_on_mismatch:
    description: Fail when any location does not match its expectation.
    type: bool
    default: true
  report:
    description:
      - Write a picture of the distribution to this path B(on the host the module runs on) - one self-contained
        HTML page (no script, no external file) with one bar chart per location, a bar per backend for the
        responses seen and a dashed outline for the count nginx's algorithm gives, and PASS or FAIL.
      - Written also when a location fails, before the module fails. Not written in check mode.
      - Writing it counts as a change. Use M(ansible.builtin.fetch) to bring it to the controller.
    type: path
    version_added: 0.2.0
attributes:
  check_mode:
    description: It only sends GET requests, in check mode as in normal mode.
    support: full
  diff_mode:
    description: Nothing is changed.
    support: none
  platform:
    support: full
    description: Any host with Python that reaches the load balancer.
    platforms: posix
notes:
  - Without a C(zone) in an upstream each nginx worker keeps its own round-robin state and counts are only
    approximate; the load_balancer role adds a zone to every upstream.
  - Send load only to load balancers you run.
seealso:
  - module: edgeops.nginx_lb.nginx_validate
"""

EXAMPLES = r"""
- name: Check every location of the live config
  edgeops.nginx_lb.lb_verify:
    url: http://127.0.0.1

- name: ip_hash from 8 client networks, and weights 2,1,1 on /weighted
  edgeops.nginx_lb.lb_verify:
    locations:
      - path: /iphash
      - path: /weighted
    clients: 8
    requests: 400

- name: The tutorial's own app (the port is in an <h1>)
  edgeops.nginx_lb.lb_verify:
    backend_regex: '<h1>(\d+)</h1>'
    locations:
      - path: /roundrobin
        servers: [127.0.0.1:7001, 127.0.0.1:7002, 127.0.0.1:7003]

- name: least_conn avoids a slow backend under concurrency
  edgeops.nginx_lb.lb_verify:
    locations:
      - path: /leastconn
        slow_backend: "7003"
    concurrency: 8
    requests: 600

- name: Report without failing
  edgeops.nginx_lb.lb_verify:
    fail_on_mismatch: false
  register: distribution

- name: A picture of the distribution, one bar chart per location, written on the LB host
  edgeops.nginx_lb.lb_verify:
    report: /tmp/lb-distribution.html

- name: Bring the picture to the controller
  ansible.builtin.fetch:
    src: /tmp/lb-distribution.html
    dest: reports/{{ inventory_hostname }}.html
    flat: true
"""

RETURN = r"""
passed:
  description: Whether every location matched its expectation.
  returned: always
  type: bool
locations:
  description: Per location - path, upstream, method, expectation, requests, counts (server address to responses),
    expected, clients (ip_hash, per source address), errors (kind to occurrences), failed, passed, problems,
    latency_ms (p50, p99), requests_per_s.
  returned: always
  type: list
  elements: dict
  sample:
    - path: /weighted
      upstream: weighted
      method: round_robin
      expectation: round_robin
      requests: 120
      counts: {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}
      expected: {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}
      passed: true
      problems: []
      latency_ms: {p50: 0.9, p99: 2.1}
      requests_per_s: 1000.0
table:
  description: One line per location, for people.
  returned: always
  type: list
  elements: str
report:
  description: Where the HTML picture of the distribution was written, on the host the module ran on.
  returned: when I(report) is set, not in check mode
  type: str
  sample: /tmp/lb-distribution.html
"""

import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _nginx_conf, _report
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Model, model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import EXPECTATIONS, table, verify


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1"),
            locations=dict(type="list", elements="dict", options=dict(
                path=dict(type="str", required=True),
                upstream=dict(type="str"),
                expect=dict(type="str", choices=list(EXPECTATIONS), default="auto"),
                servers=dict(type="list", elements="str"),
                weights=dict(type="list", elements="int"),
                slow_backend=dict(type="str"),
            )),
            requests=dict(type="int", default=120),
            concurrency=dict(type="int", default=1),
            timeout=dict(type="float", default=5),
            deadline=dict(type="float", default=120),
            clients=dict(type="int", default=1),
            tolerance=dict(type="int", default=1),
            max_errors=dict(type="int", default=0),
            backend_header=dict(type="str", default="X-Backend"),
            backend_regex=dict(type="str"),
            config_path=dict(type="path", default="/etc/nginx/nginx.conf"),
            fail_on_mismatch=dict(type="bool", default=True),
            report=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name in ("requests", "concurrency", "clients"):
        if p[name] < 1:
            module.fail_json(msg="%s must be at least 1, got %d" % (name, p[name]))

    locations = p["locations"]
    needs_config = not locations or any(not loc.get("servers") for loc in locations)
    model = Model()
    if needs_config:
        try:
            model = model_from_config(_nginx_conf.parse_file(p["config_path"]))
        except (OSError, _nginx_conf.ParseError) as exc:
            if not locations:
                module.fail_json(msg="cannot read the locations from %s: %s" % (p["config_path"], exc))
    if not locations:
        locations = [{"path": loc.path, "upstream": loc.upstream} for loc in model.locations]
        if not locations:
            module.fail_json(msg="no proxied location in %s" % p["config_path"])

    try:
        results = verify(model, p["url"], locations, p["requests"], concurrency=p["concurrency"], timeout=p["timeout"],
                         deadline_s=p["deadline"], clients=p["clients"], tolerance=p["tolerance"],
                         max_errors=p["max_errors"], backend_header=p["backend_header"], backend_regex=p["backend_regex"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    passed = all(r["passed"] for r in results)
    outcome = dict(changed=False, passed=passed, locations=results, table=table(results))
    if p["report"] and not module.check_mode:
        page = _report.render(results, url=p["url"], host=socket.gethostname(),
                              generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        try:
            outcome["report"] = _report.write(p["report"], page)
        except OSError as exc:
            module.fail_json(msg="cannot write the report to %s: %s" % (p["report"], exc), **outcome)
        outcome["changed"] = True
    if not passed and p["fail_on_mismatch"]:
        problems = [problem for r in results for problem in r["problems"]]
        module.fail_json(msg="\n".join(problems), **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
