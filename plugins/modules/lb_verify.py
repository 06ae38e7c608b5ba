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
    traffic while a primary is usable; with every primary C(down) the backups are judged as the upstream (as
    nginx sends to them); with no usable server at all the location fails saying so. C(random) over one usable
    server - every answer from it.
  - "An upstream with C(sticky cookie NAME) (nginx >= 1.29.6): the requests above are new clients (no cookie),
    judged by the method and weights; then 3 clients that keep the cookie send 30 requests each, one after the other,
    and each must be given the cookie and have every answer from one backend."
  - A backend's name is matched to a server by its host and port (an IP written another way, or a name that
    resolves to the server's IP, or this host's own name for a loopback server), never by the port alone; a bare
    port (from I(backend_regex)) names the one server on that port.
  - An upstream whose servers re-resolve a host name (C(server NAME:PORT resolve), nginx >= 1.27.3) is judged over
    the addresses the upstream's own C(resolver) gives for the name right before the location is polled (one backend
    per address, with the server's weight), each answer counted by the address that answered (I(address_header),
    nginx's C($upstream_addr); the last address when nginx tried several).
  - With no I(locations) it reads the live nginx configuration with the collection's parser and checks every
    proxied location against its upstream. The configuration is only read, never changed, and so is the model
    made from it - a location's I(weights) apply to that location alone.
  - Reads at most the first 64 KiB of each response body (what I(backend_regex) sees); a longer body is not
    read further and its connection is closed, so a huge response costs neither memory nor time.
  - "Every parameter is checked before any request is sent; a bad one fails the task with a message naming it
    (for example C(locations[1].weights: 2 weights for 3 servers))."
options:
  url:
    description:
      - Base URL of the load balancer, as seen from the host the module runs on; C(http) or C(https), no query.
      - Credentials in it (C(user:password@)) are not sent and are removed from the result, the table and the
        report (the URL as given is masked in the task's echoed arguments).
    type: str
    default: http://127.0.0.1
  ca_file:
    description:
      - For an C(https) I(url), trust only the certificates in this PEM file (on the host the module runs on),
        for example a private or self-signed CA; default - the system's trust store.
      - The name checked and sent as SNI is the host of I(url), or I(host) when given.
      - It must be a regular file (a FIFO or a device is refused before anything is read).
    type: path
    version_added: 0.3.0
  validate_certs:
    description: For an C(https) I(url), check the certificate chain and name; C(false) accepts any certificate.
    type: bool
    default: true
    version_added: 0.3.0
  host:
    description:
      - The C(Host) header of every request and, for an C(https) I(url), the TLS SNI name; the certificate is
        checked against this name (with I(validate_certs)). For a load balancer with several server blocks
        (C(load_balancer_sites)) on one address, each chosen by its C(server_name).
      - A DNS name, optionally C(:PORT) (the port goes in the C(Host) header only), for example C(shop.example.test).
      - Default - the host (and port) of I(url).
    type: str
    version_added: 0.3.0
  locations:
    description: Locations to check. Default - every proxied location of I(config_path).
    type: list
    elements: dict
    suboptions:
      path:
        description: Location path, for example C(/weighted); starts with C(/), printable ASCII, no spaces.
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
        description:
          - Weights of the servers, in order, instead of the configured ones, for this location only.
          - One per server (of I(servers), or of the upstream, backup and down servers included), each 1-1000.
        type: list
        elements: int
      slow_backend:
        description: A backend (C(host:port) or port) made slow; with C(least_conn) under concurrency it must get clearly less than its share.
        type: str
  streams:
    description:
      - TCP and UDP streams to check (nginx's C(stream) module, C(load_balancer_streams)). Each is measured one
        connection (TCP) or one datagram from its own socket (UDP, a session of its own for nginx) at a time,
        I(requests) of them, and the backend is named by the one line it answers (C(HOST:PORT), the app server's
        TCP and UDP modes). Round robin and weights - the exact smooth weighted round robin counts; C(hash) -
        every client address sticks to one backend (with I(clients), from 127.0.N.1); C(random) - chi-square.
      - Default - every stream of I(config_path) when I(locations) is not given either; with only I(locations)
        given, no stream; with only I(streams) given, no location.
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      name:
        description: The stream's name (its upstream's) in the live config.
        type: str
      address:
        description: C(host:port) to connect to; default - the stream's listen, on 127.0.0.1 for a wildcard.
        type: str
      protocol:
        description: C(tcp) or C(udp); default - the stream's.
        type: str
        choices: [tcp, udp]
      expect:
        description: The expectation; C(auto) derives it from the method.
        type: str
        choices: [auto, round_robin, sticky, random, any]
        default: auto
      servers:
        description: Backend addresses (C(host:port)), instead of the stream's.
        type: list
        elements: str
      weights:
        description: Weights of the servers, in order, instead of the configured ones, for this stream only.
        type: list
        elements: int
  requests:
    description: Requests per location (split across I(clients) for ip_hash and hash), 1-1000000; connections or datagrams per stream.
    type: int
    default: 120
  concurrency:
    description: Parallel keep-alive connections per location, 1-256.
    type: int
    default: 1
  timeout:
    description: Seconds a connect or a read may wait (more than 0, at most 3600); never beyond the I(deadline).
    type: float
    default: 5
  deadline:
    description:
      - Seconds at most per location and client (more than 0, at most 86400); the loop stops by itself then,
        within about a second, also when a backend drips its answer. Requests still in flight are cut off and
        the location fails with C(deadline reached).
      - Matching the backends' names (C(X-Backend) C(HOST:PORT)) to the servers' addresses resolves each name at
        most once and only within the location's deadline; a name not resolved by then stays unmatched and is
        reported as a backend not in the upstream.
    type: float
    default: 120
  clients:
    description: For ip_hash and hash, the number of client source addresses (127.0.N.1) on a loopback I(url), 1-254.
    type: int
    default: 1
  tolerance:
    description: How far a round-robin count may be from the exact smooth weighted round robin count (0 or more).
    type: int
    default: 1
  max_errors:
    description: Failed requests (non-2xx, timeouts, connection failures) tolerated per location (0 or more).
    type: int
    default: 0
  backend_header:
    description: Response header that names the backend.
    type: str
    default: X-Backend
  address_header:
    description:
      - Response header with the address of the backend that answered (C($upstream_addr)), read instead of
        I(backend_header) and I(backend_regex) for an upstream with C(resolve) servers. The load_balancer role adds
        C(X-Upstream-Addr) with C(load_balancer_expose_upstream_addr).
    type: str
    default: X-Upstream-Addr
    version_added: 0.3.0
  backend_regex:
    description:
      - Regex on the body whose group 1 names the backend instead, for example C(<h1>(\d+)</h1>) for the
        tutorial's app (a port). It must compile and have exactly one group.
      - It is searched in the first 64 KiB of the body only.
    type: str
  config_path:
    description:
      - nginx main configuration, read when I(locations) or an I(upstream) is not given.
      - It and every file it includes must be a regular file (a FIFO or a device is an error naming it, it is not
        opened for reading).
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
      - Writing it counts as a change (in check mode too, where it is only predicted). Use M(ansible.builtin.fetch) to bring it to the controller.
    type: path
    version_added: 0.2.0
attributes:
  check_mode:
    description: It sends the same GET requests in check mode as in normal mode; only the I(report) is not written.
    support: full
  diff_mode:
    description: No diff is returned (nothing on the host changes but the I(report) file).
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

- name: Through https, trusting the balancer's own CA (the name checked is the URL's host)
  edgeops.nginx_lb.lb_verify:
    url: https://lb.example.test
    ca_file: /etc/ssl/edgeops/ca.crt

- name: One site of several on the same address, by its name (Host header and TLS SNI, certificate checked for it)
  edgeops.nginx_lb.lb_verify:
    url: https://127.0.0.1
    host: shop.example.test
    ca_file: /etc/ssl/edgeops/ca.crt

- name: A TCP stream (exact round robin over 300 connections) and a UDP one with hash $remote_addr from 8 clients
  edgeops.nginx_lb.lb_verify:
    streams:
      - name: tcp_pool
      - name: dns_pool
    requests: 300
    clients: 8

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
  description: Per location - path, upstream, method, expectation, polled (false when no upstream was known and
    nothing was sent), requests, counts (server address to responses), expected, clients (ip_hash, per source
    address), errors (kind to occurrences; an unexpected error carries its message), failed, passed, problems,
    latency_ms (p50, p99), requests_per_s, abandoned (requests cut off at the deadline), truncated (bodies longer
    than 64 KiB), sessions (a sticky upstream - each cookie-keeping client's server address to responses; else
    null).
  returned: always
  type: list
  elements: dict
  sample:
    - path: /weighted
      upstream: weighted
      method: round_robin
      expectation: round_robin
      polled: true
      requests: 120
      counts: {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}
      expected: {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}
      passed: true
      problems: []
      latency_ms: {p50: 0.9, p99: 2.1}
      requests_per_s: 1000.0
      abandoned: 0
      truncated: 0
streams:
  description:
    - Per stream, the same fields as I(locations); its C(path) is C(tcp://ADDRESS) or C(udp://ADDRESS), C(protocol)
      says which, C(requests) counts connections or datagrams.
  returned: always
  type: list
  elements: dict
  version_added: 0.3.0
table:
  description: One line per location and per stream, for people.
  returned: always
  type: list
  elements: str
report:
  description: Where the HTML picture of the distribution was written, on the host the module ran on.
  returned: when I(report) is set, not in check mode
  type: str
  sample: /tmp/lb-distribution.html
"""

import functools
import socket
import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.errors import NoLogError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll, _nginx_conf, _report
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._files import read_regular
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Model
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._stream_poll import (
    STREAM_EXPECTATIONS, check_streams, streams_from_model, verify_streams)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import (
    EXPECTATIONS, ParameterError, check_parameters, locations_from_model, module_outcome, verify)

ARGUMENT_SPEC = dict(
    url=dict(type="str", default="http://127.0.0.1"),
    ca_file=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    host=dict(type="str"),
    locations=dict(type="list", elements="dict", options=dict(
        path=dict(type="str", required=True),
        upstream=dict(type="str"),
        expect=dict(type="str", choices=list(EXPECTATIONS), default="auto"),
        servers=dict(type="list", elements="str"),
        weights=dict(type="list", elements="int"),
        slow_backend=dict(type="str"),
    )),
    streams=dict(type="list", elements="dict", options=dict(
        name=dict(type="str"),
        address=dict(type="str"),
        protocol=dict(type="str", choices=["tcp", "udp"]),
        expect=dict(type="str", choices=list(STREAM_EXPECTATIONS), default="auto"),
        servers=dict(type="list", elements="str"),
        weights=dict(type="list", elements="int"),
    )),
    requests=dict(type="int", default=120),
    concurrency=dict(type="int", default=1),
    timeout=dict(type="float", default=5),
    deadline=dict(type="float", default=120),
    clients=dict(type="int", default=1),
    tolerance=dict(type="int", default=1),
    max_errors=dict(type="int", default=0),
    backend_header=dict(type="str", default="X-Backend"),
    address_header=dict(type="str", default="X-Upstream-Addr"),
    backend_regex=dict(type="str"),
    config_path=dict(type="path", default="/etc/nginx/nginx.conf"),
    fail_on_mismatch=dict(type="bool", default=True),
    report=dict(type="path"),
)


# A CA bundle larger than this is not one.
CA_FILE_LIMIT = 4 * 1024 * 1024


class _Module(AnsibleModule):
    """AnsibleModule whose argument errors name their field: for a malformed
    list of dicts ansible-core puts a field-less error first."""

    def __init__(self, **kwargs):
        self._validating = True
        super().__init__(**kwargs)
        self._validating = False

    def fail_json(self, msg, **kwargs):
        errors = getattr(getattr(self, "validation_result", None), "errors", None)
        if getattr(self, "_validating", False) and errors and not kwargs and msg == errors.msg:
            named = [str(error) for error in errors if not isinstance(error, NoLogError)]
            msg = "; ".join(dict.fromkeys(named)) or msg
        super().fail_json(msg=msg, **kwargs)


def what_to_check(module):
    """(model, locations, streams): the live config's model when some entry
    needs it; with neither locations nor streams given, all of the config's."""
    p = module.params
    locations, streams = p["locations"], p["streams"]
    model = Model()
    needs_config = (locations is None and streams is None) or \
        any(not loc.get("servers") for loc in locations or []) or any(not s.get("servers") for s in streams or [])
    if needs_config:
        try:
            model = model_from_config(_nginx_conf.parse_file(p["config_path"]))
        except Exception as exc:  # pylint: disable=broad-except
            if locations is None and streams is None:
                module.fail_json(msg="config_path: cannot read the locations from %s: %s" % (p["config_path"], exc))
    if locations is None and streams is None:
        locations, skipped = locations_from_model(model)
        for description in skipped:
            module.warn("not checked: %s has no path to poll; give it in locations" % description)
        streams = streams_from_model(model)
        if not locations and not streams:
            module.fail_json(msg="config_path: no proxied location or stream to poll in %s" % p["config_path"])
    return model, locations or [], streams or []


def run(module):
    p = module.params
    errors = check_parameters(p["url"], p["locations"], p["requests"], p["concurrency"], p["timeout"],
                              p["deadline"], p["clients"], p["tolerance"], p["max_errors"], p["backend_header"],
                              p["backend_regex"], p["host"], p["address_header"])
    ca_data = None
    if p["ca_file"]:
        try:
            # Read once, refused unless a regular file (a FIFO would block for ever).
            ca_data = read_regular(p["ca_file"], CA_FILE_LIMIT)[:CA_FILE_LIMIT].decode("ascii")
            _http_poll.tls_context(ca_data=ca_data)
        except (OSError, ValueError) as exc:   # ssl.SSLError is an OSError, UnicodeError a ValueError
            errors.append("ca_file: cannot load certificates from %s: %s" % (p["ca_file"], exc))
    errors.extend(check_streams(p["streams"]))
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)
    model, locations, streams = what_to_check(module)
    poll = functools.partial(_http_poll.poll, ca_data=ca_data, validate_certs=p["validate_certs"],
                             server_name=p["host"])
    try:
        results = verify(model, p["url"], locations, p["requests"], concurrency=p["concurrency"], timeout=p["timeout"],
                         deadline_s=p["deadline"], clients=p["clients"], tolerance=p["tolerance"],
                         max_errors=p["max_errors"], backend_header=p["backend_header"],
                         backend_regex=p["backend_regex"], poll=poll,
                         address_header=p["address_header"]) if locations else []
        stream_results = verify_streams(model, streams, p["requests"], timeout=p["timeout"], deadline_s=p["deadline"],
                                        clients=p["clients"], tolerance=p["tolerance"],
                                        max_errors=p["max_errors"]) if streams else []
    except ParameterError as exc:
        module.fail_json(msg=str(exc), errors=exc.errors)
    outcome = module_outcome(results, stream_results)
    results = results + stream_results
    if p["report"]:
        # Writing the page is a change; check mode says so without writing it.
        outcome["changed"] = True
        if not module.check_mode:
            page = _report.render(results, url=p["url"], host=socket.gethostname(),
                                  generated=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
            try:
                outcome["report"] = _report.write(p["report"], page)
            except OSError as exc:
                module.fail_json(msg="report: cannot write %s: %s" % (p["report"], exc), **outcome)
    if not outcome["passed"] and p["fail_on_mismatch"]:
        module.fail_json(msg="\n".join(problem for r in results for problem in r.problems), **outcome)
    module.exit_json(**outcome)


def main():
    module = _Module(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if _http_poll.redact_url(module.params["url"]) != module.params["url"]:
        # Credentials in the URL: masked wherever the result would echo it.
        module.no_log_values.add(module.params["url"])
    try:
        run(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="lb_verify failed unexpectedly (a bug, please report it): %s: %s"
                         % (type(exc).__name__, _http_poll.redact_url(exc)), exception=traceback.format_exc())


if __name__ == "__main__":
    main()
