"""lb_verify's logic without a socket: backends matched to servers, the
verdict per method, parameters named before any request, a location's
weights never leaking into the shared model, one result type. The poller is
replaced by one that returns nginx's counts."""

import json

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll, _report, _verify
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._balance import expected_counts
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Location, Model, Server, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import judge, match_backend, table, verify

P1, P2, P3 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"


SERVERS = [Server("127.0.0.1:7001", weight=2), Server("127.0.0.1:7002"), Server("127.0.0.1:7003")]


def no_dns(host):
    return {"127.0.0.1"} if host in ("lab", "localhost") else set()


@pytest.mark.parametrize("label, expected", [
    ("127.0.0.1:7002", "127.0.0.1:7002"),
    ("lab:7003", "127.0.0.1:7003"),           # X-Backend hostname:port, the name resolves
    ("7001", "127.0.0.1:7001"),               # a bare port from a body regex
    ("elsewhere:7001", None),                 # a port unique among the servers, on another host
    ("lab:9999", None),
])
def test_match_backend(label, expected):
    assert match_backend(label, SERVERS, no_dns) == expected


def test_port_shared_by_several_hosts_needs_the_host():
    servers = [Server("10.0.0.1:7001"), Server("10.0.0.2:7001")]
    assert match_backend("app:7001", servers, lambda h: {"10.0.0.2"}) == "10.0.0.2:7001"
    assert match_backend("7001", servers, no_dns) is None


def weighted(method="round_robin", **extra):
    return Upstream("weighted", servers=[Server(s.address, weight=s.weight) for s in SERVERS], method=method, **extra)


@pytest.mark.parametrize("upstream, counts, concurrency, problem", [
    (weighted(), {"lab:7001": 60, "lab:7002": 30, "lab:7003": 30}, 1, None),
    (weighted(), {"lab:7001": 61, "lab:7002": 29, "lab:7003": 30}, 1, None),   # within tolerance 1
    (weighted(), {"lab:7001": 75, "lab:7002": 45, "lab:7003": 0}, 1,
     "/w: expected 7001:60 7002:30 7003:30, got 7001:75 7002:45 7003:0"),
    (weighted("least_conn"), {"lab:7001": 60, "lab:7002": 30, "lab:7003": 30}, 1, None),
    (weighted("least_conn"), {"lab:7001": 60, "lab:7002": 60}, 8, "least_conn never chose 127.0.0.1:7003"),
    (weighted(), {"lab:7001": 60, "lab:7002": 30, "lab:7003": 29, "other:8000": 1}, 1,
     "answers from backends not in upstream weighted: other:8000"),
    (weighted("random"), {"lab:7001": 2000, "lab:7002": 1000, "lab:7003": 1000}, 1, None),
    (weighted("random"), {"lab:7001": 1000, "lab:7002": 1000, "lab:7003": 1000}, 1, "do not fit weights"),
    (weighted("random", two=True), {"lab:7001": 1000, "lab:7002": 1500, "lab:7003": 1500}, 1, None),
    (weighted("hash", hash_key="$request_uri"), {"lab:7002": 120}, 1, None),
    (weighted("hash", hash_key="$request_uri"), {"lab:7002": 60, "lab:7003": 60}, 1, "was not sticky"),
])
def test_judge(upstream, counts, concurrency, problem):
    verdict = judge("/w", upstream, {"default": counts}, "auto", concurrency, resolve=no_dns)
    if problem is None:
        assert verdict.passed, verdict.problems
    else:
        assert not verdict.passed and any(problem in p for p in verdict.problems), verdict.problems


def test_backup_and_down_must_stay_idle():
    upstream = Upstream("u", servers=[Server("127.0.0.1:7001"), Server("127.0.0.1:7002", backup=True),
                                      Server("127.0.0.1:7003", down=True)])
    assert judge("/u", upstream, {"default": {"7001": 10}}, "auto", resolve=no_dns).passed
    verdict = judge("/u", upstream, {"default": {"7001": 9, "7002": 1}}, "auto", resolve=no_dns)
    assert "backup/down servers answered while primaries are up: 127.0.0.1:7002" in verdict.problems[0]


def test_ip_hash_checks_each_client_against_the_formula():
    upstream = Upstream("iphash", method="ip_hash", servers=[Server(s.address) for s in SERVERS])
    # (4340 + N) % 3: 127.0.1.1 -> 0, 127.0.2.1 -> 1, 127.0.3.1 -> 2
    good = {"127.0.1.1": {"7001": 5}, "127.0.2.1": {"7002": 5}, "127.0.3.1": {"7003": 5}}
    assert judge("/iphash", upstream, good, "auto", resolve=no_dns).passed
    wrong = dict(good, **{"127.0.3.1": {"7001": 5}})
    verdict = judge("/iphash", upstream, wrong, "auto", resolve=no_dns)
    assert verdict.problems == ["/iphash: client 127.0.3.1 should hash to 127.0.0.1:7003, got 7001:5 7002:0 7003:0"]


def test_slow_backend_under_least_conn():
    upstream = Upstream("lc", method="least_conn", servers=[Server(s.address) for s in SERVERS])
    fair = judge("/lc", upstream, {"default": {"7001": 40, "7002": 40, "7003": 40}}, "auto", 8, slow_backend="7003",
                 resolve=no_dns)
    assert "clearly less than its round-robin share 40, got 40" in fair.problems[0]
    avoided = judge("/lc", upstream, {"default": {"7001": 55, "7002": 55, "7003": 10}}, "auto", 8,
                    slow_backend="7003", resolve=no_dns)
    assert avoided.passed


# ------------------------------------------------------------ the model is never changed

def weighted_model():
    """One upstream weighted 2:1:1 behind /a and /b."""
    upstream = Upstream("weighted", servers=[Server(P1, weight=2), Server(P2), Server(P3)])
    return Model(upstreams=[upstream], locations=[Location("/a", "weighted"), Location("/b", "weighted")])


def nginx_like_poll(weights):
    """A stand-in for the poller: the counts nginx gives with `weights`."""
    def fake(url, path, requests, **kwargs):
        counts = dict(zip((P1, P2, P3), expected_counts(weights, requests)))
        return _http_poll.PollResult(requests=requests, counts=counts, latencies_ms=[1.0] * requests,
                                     elapsed_s=0.1)
    return fake


def test_weights_of_one_location_do_not_leak_into_the_next():
    model = weighted_model()
    results = verify(model, "http://127.0.0.1", [{"path": "/a", "weights": [1, 1, 1]}, {"path": "/b"}], 120,
                     poll=nginx_like_poll([2, 1, 1]))
    first, second = results
    assert first.problems == ["/a: expected 7001:40 7002:40 7003:40, got 7001:60 7002:30 7003:30"]
    assert second.passed, second.problems
    assert second.expected == {P1: 60, P2: 30, P3: 30}
    assert [s.weight for s in model.upstreams[0].servers] == [2, 1, 1]


def test_weights_override_is_judged_for_its_own_location():
    results = verify(weighted_model(), "http://127.0.0.1", [{"path": "/b"}, {"path": "/a", "weights": [1, 1, 1]}],
                     120, poll=nginx_like_poll([1, 1, 1]))
    assert not results[0].passed and results[1].passed, [r.problems for r in results]


def test_a_server_without_a_port_does_not_crash_the_verdict():
    """A config may say `server app.example;` (port 80 implied)."""
    upstream = Upstream("u", servers=[Server("app.example"), Server(P1)])
    verdict = judge("/u", upstream, {"default": {"7001": 3, "9999": 1}}, "round_robin", resolve=lambda host: set())
    assert "/u: answers from backends not in upstream u: 9999" in verdict.problems


def test_regex_locations_of_a_config_are_named_not_polled():
    model = Model(upstreams=weighted_model().upstreams,
                  locations=[Location("/a", "weighted", modifier=""), Location(r"\.php$", "weighted", modifier="~"),
                             Location("/exact", "weighted", modifier="=")])
    specs, skipped = _verify.locations_from_model(model)
    assert specs == [{"path": "/a", "upstream": "weighted"}, {"path": "/exact", "upstream": "weighted"}]
    assert skipped == [r"location ~ \.php$ (upstream weighted)"]


# ------------------------------------------------------------ parameters, named

GOOD = dict(requests=120, concurrency=1, timeout=5.0, deadline_s=120.0, clients=1, tolerance=1, max_errors=0,
            backend_header="X-Backend", backend_regex=None)


@pytest.mark.parametrize("locations, changed, message", [
    ([{"path": "/x", "servers": [P1, P2, P3], "weights": [2, 1]}], {}, "locations[0].weights: 2 weights for 3 servers"),
    ([{"path": "/b"}, {"path": "/a", "weights": [2, 1]}], {}, "locations[1].weights: 2 weights for 3 servers"),
    ([{"path": "/a", "weights": [1, 1, 1, 1]}], {}, "locations[0].weights: 4 weights for 3 servers"),
    ([{"path": "/a", "weights": [1, 0, 1]}], {}, "locations[0].weights[1]: must be 1-1000, got 0"),
    ([{"path": "/a", "weights": [1, -3, 1]}], {}, "locations[0].weights[1]: must be 1-1000, got -3"),
    ([{"path": "/x", "servers": [P1, "no-port"]}], {}, "locations[0].servers[1]: must be 'host:port'"),
    ([{"path": "no-slash"}], {}, "locations[0].path: must start with /"),
    ([{"path": "/a b"}], {}, "locations[0].path"),
    ([{"path": "/\u00e9"}], {}, "locations[0].path"),
    ([{"path": "/a\n"}], {}, "locations[0].path"),
    ([{"path": "/a", "expect": "fastest"}], {}, "locations[0].expect: must be one of"),
    ([{"path": "/a"}], {"timeout": 0}, "timeout: must be more than 0"),
    ([{"path": "/a"}], {"timeout": -1.0}, "timeout: must be more than 0"),
    ([{"path": "/a"}], {"timeout": float("nan")}, "timeout: must be a number of seconds"),
    ([{"path": "/a"}], {"deadline_s": 0}, "deadline: must be more than 0"),
    ([{"path": "/a"}], {"backend_regex": "<h1>(\\d+</h1>"}, "backend_regex: '<h1>(\\\\d+</h1>' does not compile"),
    ([{"path": "/a"}], {"backend_regex": "<h1>\\d+</h1>"}, "backend_regex: needs exactly one group"),
    ([{"path": "/a"}], {"backend_regex": "(a)(b)"}, "backend_regex: needs exactly one group (the backend), '(a)(b)' has 2"),
    ([{"path": "/a"}], {"requests": 0}, "requests: must be 1-1000000, got 0"),
    ([{"path": "/a"}], {"requests": 10 ** 9}, "requests: must be 1-1000000"),
    ([{"path": "/a"}], {"concurrency": 0}, "concurrency: must be 1-256, got 0"),
    ([{"path": "/a"}], {"concurrency": 100000}, "concurrency: must be 1-256, got 100000"),
    ([{"path": "/a"}], {"clients": 300}, "clients: must be 1-254, got 300"),
    ([{"path": "/a"}], {"tolerance": -1}, "tolerance: must be 0-"),
    ([{"path": "/a"}], {"max_errors": -1}, "max_errors: must be 0-"),
    ([{"path": "/a"}], {"backend_header": ""}, "backend_header: must be an HTTP header name"),
    ([{"path": "/a"}], {"backend_header": "X-Backend: x"}, "backend_header: must be an HTTP header name"),
    ([{"path": "/a"}], {"backend_header": "X-Backend\n"}, "backend_header: must be an HTTP header name"),
], ids=lambda value: None if not isinstance(value, str) else value.split(":")[0])
def test_bad_parameters_are_named_before_any_request(locations, changed, message):
    sent = []

    def never(*args, **kwargs):
        sent.append(args)
        raise AssertionError("nothing may be sent")
    with pytest.raises(ValueError) as caught:
        verify(weighted_model(), "http://127.0.0.1", locations, poll=never, **dict(GOOD, **changed))
    assert message in str(caught.value)
    assert sent == []


@pytest.mark.parametrize("url, message", [
    ("ftp://127.0.0.1", "url must be http:// or https://"),
    ("http://127.0.0.1:99999", "is not a valid URL"),
    ("http://", "url has no host"),
    ("http://u:hunter2@127.0.0.1:99999", "http://127.0.0.1:99999 is not a valid URL"),
    ("ftp://u:hunter2@127.0.0.1", "url must be http:// or https://, got 'ftp://127.0.0.1'"),
])
def test_bad_urls_are_named_without_their_credentials(url, message):
    with pytest.raises(ValueError) as caught:
        verify(weighted_model(), url, [{"path": "/a"}], 10, poll=nginx_like_poll([2, 1, 1]))
    assert message in str(caught.value) and "hunter2" not in str(caught.value)


# ------------------------------------------------------------ one result type

def test_one_result_type_for_the_table_the_report_and_the_module():
    result, = verify(weighted_model(), "http://127.0.0.1", [{"path": "/a"}], 120, poll=nginx_like_poll([2, 1, 1]))
    assert isinstance(result, _verify.LocationResult)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["counts"] == data["expected"] == {P1: 60, P2: 30, P3: 30}
    assert data["passed"] is True and data["failed"] == 0 and data["polled"] is True
    assert table([result])[0].startswith("/a           round_robin ok   7001:60 7002:30 7003:30 (exact)")
    assert "/a" in _report.render([result])
    missing, = verify(Model(), "http://127.0.0.1", [{"path": "/nowhere"}], 10, poll=nginx_like_poll([1, 1, 1]))
    assert missing.to_dict()["polled"] is False and missing.to_dict()["passed"] is False
    assert table([missing]) == ["/nowhere     FAIL /nowhere: no upstream known for this location (give upstream or "
                                "servers, or check config_path)"]


def servers_of(*specs):
    """Servers on 127.0.0.1:7001... from (flags) tuples: 'b' backup, 'd' down."""
    return [Server("127.0.0.1:%d" % (7001 + index), backup="b" in flags, down="d" in flags)
            for index, flags in enumerate(specs)]


@pytest.mark.parametrize("method, flags, counts, expect, slow, problem", [
    # One usable server: nothing to fit, every answer must be its.
    ("random", ("",), {"7001": 100}, "auto", None, None),
    ("random", ("", "d"), {"7001": 100}, "auto", None, None),
    ("random", ("",), {"7001": 99, "7002": 1}, "auto", None, "not in upstream"),
    # Every primary down: the backups serve, as nginx does.
    ("round_robin", ("d", "b"), {"7002": 10}, "auto", None, None),
    ("round_robin", ("d", "d", "b", "b"), {"7003": 5, "7004": 5}, "auto", None, None),
    ("round_robin", ("d", "b"), {"7001": 1, "7002": 9}, "auto", None, "down servers answered: 127.0.0.1:7001"),
    ("round_robin", ("", "b"), {"7002": 10}, "auto", None, "backup/down servers answered while primaries are up"),
    ("least_conn", ("d", "b"), {"7002": 10}, "least_conn", "7002", "slow backend 7002 clearly less"),
    ("least_conn", ("d", "b", "b"), {"7002": 2, "7003": 8}, "least_conn", "7002", None),
    ("least_conn", ("d", "d"), {}, "least_conn", "7001", "has no usable server"),
    ("round_robin", ("d",), {"7001": 3}, "auto", None, "has no usable server"),
    # ip_hash with nothing to hash to: only stickiness.
    ("ip_hash", ("b", "b"), {"7001": 10}, "ip_hash", None, None),
    ("ip_hash", ("d", "d"), {"7001": 10}, "ip_hash", None, "has no usable server"),
    ("ip_hash", ("b", "b"), {"7001": 5, "7002": 5}, "ip_hash", None, "was not sticky"),
])
def test_every_verdict_is_safe_with_one_or_no_usable_server(method, flags, counts, expect, slow, problem):
    upstream = Upstream("u", servers=servers_of(*flags), method=method)
    per_client = {"127.0.1.1": counts} if method == "ip_hash" else {"default": counts}
    verdict = judge("/u", upstream, per_client, expect, concurrency=8 if expect == "least_conn" else 1,
                    slow_backend=slow, resolve=no_dns)
    if problem is None:
        assert verdict.passed, verdict.problems
    else:
        assert any(problem in text for text in verdict.problems), verdict.problems


@pytest.mark.parametrize("label, servers, expected", [
    ("10.9.9.9:7001", ["127.0.0.1:7001"], None),                  # same port, another host
    ("10.9.9.9:7001", ["127.0.0.1:7001", "127.0.0.1:7002"], None),
    ("[::2]:7001", ["[::1]:7001"], None),
    ("127.0.0.2:7001", ["127.0.0.1:7001"], None),
    ("127.0.0.1:07001", ["127.0.0.1:7001"], "127.0.0.1:7001"),    # written another way
    ("[0:0::1]:7001", ["[::1]:7001"], "[::1]:7001"),
    ("LAB:7001", ["lab:7001"], "lab:7001"),
    ("lab:7001", ["127.0.0.1:7001"], "127.0.0.1:7001"),            # the name resolves to it
    ("10.0.0.2:7001", ["lab:7001"], None),                         # lab is 127.0.0.1, not 10.0.0.2
    ("127.0.0.1:7001", ["lab:7001"], "lab:7001"),
    ("7001", ["127.0.0.1:7001", "10.0.0.2:7002"], "127.0.0.1:7001"),  # a bare port: the one server on it
    ("7001", ["127.0.0.1:7001", "10.0.0.2:7001"], None),
    ("7001\n", ["127.0.0.1:7001"], "127.0.0.1:7001"),
    ("-7001", ["127.0.0.1:7001"], None),
    ("lab:7001:7001", ["127.0.0.1:7001"], None),
])
def test_match_backend_never_by_port_alone(label, servers, expected):
    assert match_backend(label, [Server(address) for address in servers], no_dns) == expected


def test_a_loopback_backend_is_known_by_this_host_s_name(monkeypatch):
    monkeypatch.setattr(_verify.socket, "gethostname", lambda: "Box1")
    servers = [Server("127.0.0.1:7001"), Server("10.0.0.2:7002")]
    assert match_backend("box1:7001", servers, lambda host: set()) == "127.0.0.1:7001"
    assert match_backend("box1:7002", servers, lambda host: set()) is None
    assert match_backend("box2:7001", servers, lambda host: set()) is None


@pytest.mark.parametrize("deadline_in, lookups", [(0.3, 1), (0.0, 0), (-1.0, 0)])
def test_name_resolution_ends_at_the_deadline(deadline_in, lookups):
    import threading
    import time
    started, release = [], threading.Event()

    def slow_lookup(host):
        started.append(host)
        release.wait(10)
        return {"127.0.0.1"}

    resolve = _verify.Resolver(time.monotonic() + deadline_in, lookup=slow_lookup)
    begun = time.monotonic()
    labels = {"name%d:7001" % n: 1 for n in range(100)}     # a hundred distinct names, each a slow lookup
    verdict = judge("/u", Upstream("u", servers=[Server("127.0.0.1:7001")]), {"default": labels}, "round_robin",
                    resolve=resolve)
    release.set()
    assert time.monotonic() - begun < max(deadline_in, 0) + 0.5
    assert len(started) == lookups and not verdict.passed


def test_verify_resolves_within_the_location_s_deadline(monkeypatch):
    import time
    calls = []

    def slow_lookup(host):
        calls.append(host)
        time.sleep(5)
        return set()

    monkeypatch.setattr(_verify, "_resolve", slow_lookup)

    def poll(url, path, requests, **kwargs):
        return _http_poll.PollResult(requests=requests, counts={"name%d:7001" % n: 1 for n in range(requests)},
                                     elapsed_s=0.01)

    begun = time.monotonic()
    result = verify(Model(upstreams=[Upstream("u", servers=[Server("127.0.0.1:7001")])]), "http://127.0.0.1",
                    [{"path": "/u", "upstream": "u"}], 100, deadline_s=0.5, poll=poll)[0]
    assert time.monotonic() - begun < 1.5 and calls and not result.passed


@pytest.mark.parametrize("host, ok", [
    ("shop.example.test", True), ("shop.example.test:8443", True), ("localhost", True), ("a", True),
    ("xn--bcher-kva.example", True), ("a" * 63 + ".test", True),
    ("shop.example.test:0", False), ("shop.example.test:65536", False), ("shop.example.test:", False),
    ("a" * 64 + ".test", False), ("-shop.test", False), ("shop-.test", False), ("shop..test", False),
    ("shop.test\n", False), ("shop.test\r\nX-Evil: 1", False), ("shop test", False), ("[::1]", False),
    ("::1", False), ("shop.test:80:80", False), ("shop_test", False), ("", False), (".", False),
    ("bücher.example", False), ("shop.test/x", False), (7, False),
])
def test_host_is_a_dns_name_optionally_with_a_port(host, ok):
    errors = _verify.check_parameters("http://127.0.0.1", None, host=host)
    if ok:
        assert errors == []
    else:
        assert [error for error in errors if error.startswith("host: must be a DNS name, optionally :port")], errors


def sticky_model():
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Sticky
    upstream = Upstream("app", servers=[Server(P1, weight=2), Server(P2), Server(P3)], sticky=Sticky("srv"))
    return Model(upstreams=[upstream], locations=[Location("/sticky", "app")])


def sticky_poll(sessions_of):
    """New clients as nginx spreads them 2:1:1; a cookie-keeping client's
    backends from `sessions_of(n)` (n: the client's number)."""
    calls = []

    def fake(url, path, requests, keep_cookie=None, **kwargs):
        if keep_cookie is None:
            return nginx_like_poll([2, 1, 1])(url, path, requests)
        calls.append(keep_cookie)
        counts, given = sessions_of(len(calls))
        return _http_poll.PollResult(requests=sum(counts.values()), counts=dict(counts), latencies_ms=[1.0],
                                     elapsed_s=0.1, sessions=[counts], cookies_set=given)
    return fake, calls


@pytest.mark.parametrize("sessions_of, problems", [
    (lambda n: ({"7001": 30} if n != 2 else {"7002": 30}, 1), []),
    (lambda n: ({"7001": 20, "7002": 10}, 1) if n == 3 else ({"7003": 30}, 1),
     ["/sticky: client 3 kept cookie srv and reached 2 backends (7001:20 7002:10); sticky sends all its requests to "
      "one"]),
    (lambda n: ({"7001": 10, "7002": 10, "7003": 10}, 0),
     ["/sticky: 3 of 3 clients got no cookie srv (Set-Cookie): is upstream app sticky?"]
     + ["/sticky: client %d kept cookie srv and reached 3 backends (7001:10 7002:10 7003:10); sticky sends all its "
        "requests to one" % n for n in (1, 2, 3)]),
])
def test_a_sticky_upstream_is_judged_for_new_clients_and_cookie_keepers(sessions_of, problems):
    poll, calls = sticky_poll(sessions_of)
    result, = verify(sticky_model(), "http://127.0.0.1", [{"path": "/sticky"}], 120, poll=poll)
    assert calls == ["srv"] * _verify.STICKY_CLIENTS
    # New clients: exactly by the weights.
    assert result.counts == {P1: 60, P2: 30, P3: 30} and result.expected == result.counts
    assert result.problems == problems
    assert len(result.sessions) == _verify.STICKY_CLIENTS
    assert result.requests == 120 + sum(sum(one.values()) for one in result.sessions)


def test_an_upstream_without_sticky_sends_no_cookie_client():
    poll, calls = sticky_poll(lambda n: ({"7001": 30}, 1))
    result, = verify(weighted_model(), "http://127.0.0.1", [{"path": "/a"}], 120, poll=poll)
    assert calls == [] and result.sessions is None and result.passed


# ------------------------------------------------------------ names re-resolved by DNS (`resolve`)


def resolving_model(weight=1):
    upstream = Upstream("dyn", servers=[Server("dyn.edgeops.test:7001", weight=weight, resolve=True),
                                        Server("127.0.0.1:7002")])
    return Model(upstreams=[upstream], locations=[Location("/dyn", "dyn")])


def poll_answering(counts, seen):
    """A stand-in poller: `counts` by label, and the header it was asked to read."""
    def fake(url, path, requests, **kwargs):
        seen.append((kwargs["backend_header"], kwargs["backend_regex"]))
        return _http_poll.PollResult(requests=requests, counts=dict(counts), latencies_ms=[1.0] * requests,
                                     elapsed_s=0.1)
    return fake


@pytest.mark.parametrize("weight, resolved, counts, problem", [
    # Two A records: two backends, each with the server's weight (2, 2, and 1 for 7002).
    (2, ["127.0.0.2", "127.0.0.3"], {"127.0.0.2:7001": 40, "127.0.0.3:7001": 40, "127.0.0.1:7002": 20}, None),
    (1, ["127.0.0.2", "127.0.0.3"], {"127.0.0.2:7001": 33, "127.0.0.3:7001": 34, "127.0.0.1:7002": 33}, None),
    # nginx tried one peer, then answered from another: the last one counts.
    (1, ["127.0.0.2"], {"127.0.0.2:7001": 50, "127.0.0.9:7001, 127.0.0.1:7002": 50}, None),
    # An address the name no longer has answers: a stranger.
    (1, ["127.0.0.2"], {"127.0.0.2:7001": 50, "127.0.0.4:7001": 50}, "not in upstream dyn: 127.0.0.4:7001"),
    # One address of the set never answers: its share is missing.
    (1, ["127.0.0.2", "127.0.0.3"], {"127.0.0.2:7001": 50, "127.0.0.1:7002": 50}, "expected 127.0.0.2:7001:34"),
    (1, [], {"127.0.0.1:7002": 100}, "/dyn: upstream dyn: dyn.edgeops.test resolves to no address"),
])
def test_a_resolving_upstream_is_judged_over_the_resolved_set(weight, resolved, counts, problem):
    seen, asked = [], []

    def lookup(upstream, name):
        asked.append((upstream.name, name))
        return resolved

    result = verify(resolving_model(weight), "http://127.0.0.1", [{"path": "/dyn"}], 100,
                    poll=poll_answering(counts, seen), lookup=lookup, backend_regex=r"<h1>(\d+)</h1>")[0]
    assert asked == [("dyn", "dyn.edgeops.test")]
    # Counted by the answering address, whatever names the backends otherwise.
    assert seen == [("X-Upstream-Addr", None)]
    if problem is None:
        assert result.passed, result.problems
        assert set(result.expected) == {"%s:7001" % address for address in resolved} | {"127.0.0.1:7002"}
    else:
        assert any(problem in text for text in result.problems), result.problems


def test_answers_without_the_address_header_say_what_to_set():
    def poll(url, path, requests, **kwargs):
        return _http_poll.PollResult(requests=requests, errors={"unidentified backend": requests}, elapsed_s=0.1)

    result = verify(resolving_model(), "http://127.0.0.1", [{"path": "/dyn"}], 10, poll=poll,
                    lookup=lambda upstream, name: ["127.0.0.2"])[0]
    assert any("load_balancer_expose_upstream_addr" in text for text in result.problems), result.problems


def test_the_lookup_asks_the_upstream_s_own_resolver(monkeypatch):
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Resolver
    asked = []
    monkeypatch.setattr(_verify._dns, "resolve_with", lambda servers, name, ipv6=False: asked.append(
        (servers, name, ipv6)) or ["127.0.0.2"])
    upstream = resolving_model().upstreams[0]
    upstream.resolver = Resolver(addresses=["127.0.0.53"], ipv6=False)
    assert _verify.dns_lookup(upstream, "dyn.edgeops.test") == ["127.0.0.2"]
    assert asked == [(["127.0.0.53"], "dyn.edgeops.test", False)]


def test_a_static_upstream_keeps_its_backend_header():
    seen = []
    verify(weighted_model(), "http://127.0.0.1", [{"path": "/a"}], 12, poll=poll_answering({P1: 6, P2: 3, P3: 3}, seen),
           lookup=lambda upstream, name: pytest.fail("a static upstream is not resolved"))
    assert seen == [("X-Backend", None)]


def test_the_address_header_is_checked_before_any_request():
    with pytest.raises(_verify.ParameterError, match="address_header: must be an HTTP header name"):
        verify(resolving_model(), "http://127.0.0.1", [{"path": "/dyn"}], 10, address_header="X Addr",
               poll=lambda *a, **k: pytest.fail("polled"))


def test_the_table_shows_addresses_that_share_a_port_whole():
    result = verify(resolving_model(), "http://127.0.0.1", [{"path": "/dyn"}], 90,
                    poll=poll_answering({"127.0.0.2:7001": 30, "127.0.0.3:7001": 30, "127.0.0.1:7002": 30}, []),
                    lookup=lambda upstream, name: ["127.0.0.2", "127.0.0.3"])
    assert table(result)[0].startswith("/dyn         round_robin ok   127.0.0.2:7001:30 127.0.0.3:7001:30 "
                                       "127.0.0.1:7002:30 (exact)")
    assert table(verify(weighted_model(), "http://127.0.0.1", [{"path": "/a"}], 12,
                        poll=poll_answering({P1: 6, P2: 3, P3: 3}, [])))[0].startswith(
        "/a           round_robin ok   7001:6 7002:3 7003:3 (exact)")
