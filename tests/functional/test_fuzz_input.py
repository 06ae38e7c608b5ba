"""Fuzzing the role's input: every generated case is either refused with the
field named, or rendered into a config that the host's `nginx -t` accepts and
whose parse (ours and crossplane's) holds exactly the model's upstreams,
servers, locations and listen, and nothing else: no injected block, no include.

Seeded (derandomised) and bounded: FUZZ_EXAMPLES cases, about one in five
accepted; each accepted one costs one `nginx -t`.
"""

import os
import shutil
import subprocess

import crossplane
import jinja2
import pytest
from ansible.plugins.filter.core import comment
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from ansible_collections.edgeops.nginx_lb.plugins.filter.lb_model import lb_model
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import check_candidate
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse, walk

from ansible.errors import AnsibleFilterError

from helpers.localnet import NGINX, needs_nginx
from helpers.paths import ROLES, default_site_vars

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5000"))
# `make test` runs the same seeded cases every time; FUZZ_SEED=N explores others.
FUZZ_SEED = os.environ.get("FUZZ_SEED")
TEMPLATE = ROLES / "load_balancer" / "templates" / "upstream.conf.j2"
# The role variables a refused case may name.
FIELD_PREFIXES = ("load_balancer_",)

# What an attacker (or a slip of the keyboard) puts into a value.
HOSTILE = [
    "$request_uri; server 127.0.0.1:7001; }\nserver { listen 18088; location / { return 200 'injected'; } }\n"
    "upstream zz { hash $request_uri",
    "/a\n", "a;b", "x}", "{", "'", '"', "\\", "#", "$", "${", "$nonexistent", "\n", "\r", "\x00", " ", "",
    "²", "７００１", "٣", "--5", "1e20", "0", "-1", 10 ** 20, -1, 0, 2 ** 63, "x" * 5000, "caf\u00e9",
    "127.0.0.1:07001", "127.0.0.1:7001 backup", "include /etc/passwd", True, None, 1.5, [], {},
]
SAFE_CHARS = "abcxyz019_-./:~$*"
HOSTILE_CHARS = SAFE_CHARS + ";{}'\"\\#\n\r\t ²７٣é\x00"


HOSTILE_VALUE = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=HOSTILE_CHARS, max_size=12),
                          st.integers(min_value=-2 ** 70, max_value=2 ** 70))
# About one draw in forty is hostile (hypothesis favours the ends of a range,
# so the hostile pick is a value in the middle).
IS_HOSTILE = st.integers(0, 40).map(lambda i: i == 17)


def pick(draw, strategy):
    """A value of `strategy`, or now and then a hostile one."""
    return draw(HOSTILE_VALUE) if draw(IS_HOSTILE) else draw(strategy)


def maybe(draw, entry, key, strategy):
    """Sets `key` in about half the cases."""
    if draw(st.booleans()):
        entry[key] = pick(draw, strategy)


def now_and_then(common, rare, one_in=8):
    """`rare` in about one draw of `one_in`, else `common`: most cases stay valid enough to reach nginx -t
    (the rare pick is a value in the middle: hypothesis favours the ends of a range)."""
    return st.integers(0, one_in - 1).flatmap(lambda i: rare if i == one_in // 2 else common)


# Strategies are built once: building them inside a draw costs more than the case.
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.1.1", "[::1]", "localhost"]
# IPv6 spellings: another form of ::1, link-local, zone ids (nginx reads none), IPv4-mapped.
IPV6_HOSTS = ["[0:0::1]", "[0000::0001]", "[fe80::1]", "[fe80::1%lo]", "[fe80::1%x #]", "[::1%1]",
              "[::ffff:127.0.0.1]", "[::FFFF:7f00:1]", "[::]"]
ADDRESS = st.tuples(now_and_then(st.sampled_from(HOSTS), st.sampled_from(IPV6_HOSTS), one_in=24),
                    st.integers(1, 65535), st.booleans()).map(
    lambda t: "%s:%s" % (t[0], ("0%d" % t[1]) if t[2] and t[1] < 10000 else t[1]))
SECONDS = st.tuples(st.integers(1, 999), st.sampled_from(["", "s", "m", "h"])).map(lambda t: "%d%s" % t)
TIMES = st.tuples(st.integers(1, 9999), st.sampled_from(["", "ms", "s", "m"])).map(lambda t: "%d%s" % t)
SERVER_FIELDS = (("weight", st.integers(1, 1000)), ("max_fails", st.integers(0, 1000)), ("fail_timeout", SECONDS),
                 ("max_conns", st.integers(0, 10000)), ("backup", st.integers(0, 5).map(lambda i: i == 3)))
METHOD = st.sampled_from(["round_robin", "least_conn", "ip_hash", "hash", "random"])
HASH_KEY = st.sampled_from(["$request_uri", "$remote_addr$uri", "${host}x", "$arg_id", "$cookie_session:$http_x_user"])
ZONE = st.sampled_from(["64k", "32k", "1m", False, True])
# Case variants (nginx compares upstream names without case) and the role's own zone name.
NAMES = st.lists(now_and_then(st.text(alphabet="abcdefghij_0123", min_size=1, max_size=8).map(lambda n: "u" + n),
                              st.sampled_from(["uA", "ua", "UA", "SSL", "ssl", "Ssl"]), one_in=6),
                 min_size=1, max_size=4, unique=True)
# Segments now and then '.', '..' or empty (nginx normalises the request's URI, never the location).
SEGMENT = now_and_then(st.text(alphabet="abcz09._~-", min_size=1, max_size=6), st.sampled_from([".", "..", ""]),
                       one_in=20)
PATHS = st.lists(st.lists(SEGMENT, min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)), max_size=4, unique=True)
LISTEN_HOSTS = ["127.0.0.1", "[::1]", "localhost", "0.0.0.0"] + IPV6_HOSTS
LISTEN = st.one_of(st.integers(1024, 65535).map(str),
                   st.tuples(now_and_then(st.sampled_from(["127.0.0.1", "[::1]"]), st.sampled_from(LISTEN_HOSTS), 3),
                             st.integers(1024, 65535)).map(lambda t: "%s:%d" % t))
# Pieces of a ~regex server name: PCRE that Python reads alike, PCRE2-only and
# Python-only syntax, captures named like nginx variables, repeat counts
# around PCRE2's limit.
REGEX_PIECES = [
    "a", "x", "-", "\\.", ".", "+", "*", "?", "+?", "{2}", "{0,65535}", "{65536}", "{,5}", "{", "}", "(", ")",
    "(?:", "(?<sub>", "(?<Sub2>", "(?<host>", "(?<Host>", "(?<http_x>", "(?<remote_addr>", "(?<%s>" % ("c" * 32),
    "(?<%s>" % ("c" * 33), "(?<1a>", "(?P<p>", "(?=", "(?!", "(?<=", "(?a)", "(?i)", "(?#", "\\u0041", "\\x41",
    "\\d", "\\w", "\\b", "\\Z", "\\z", "\\1", "[a-z]", "[^.]", "[[:alpha:]]", "[\\d.-]", "^", "$", "|", ";",
]
REGEX_NAME = now_and_then(st.lists(st.sampled_from(REGEX_PIECES), min_size=1, max_size=8).map(
    lambda pieces: "~" + "".join(pieces)), st.just("~"), one_in=20)
SERVER_NAME = now_and_then(
    now_and_then(st.sampled_from(["_", "example.com", "*.example.org www.example.*", ".example.net", "127.0.0.1",
                                  "~^(?<sub>.+)\\.example\\.com$", "a.example b.example", "~^x{2}y;$", "[::1]"]),
                 st.sampled_from([".", "..", "1..2", "[fe80::1%lo]", "[::ffff:1.2.3.4]"])),
    REGEX_NAME, one_in=3)
# Names around the longest that nginx's proxy_headers_hash holds (46).
HEADER_NAME = now_and_then(st.sampled_from(["Host", "X-A", "X-Forwarded-For", "X-Real-IP", "Via", "X-B-C"]),
                           st.sampled_from(["X" + "a" * 45, "X" + "b" * 46, "X" + "c" * 47, "X" + "d" * 63]))
HEADER_VALUE = st.sampled_from(["$host", "$remote_addr", "a b c", "x;y{z}", "q\"uo'te", "back\\slash", "",
                                "$http_x_y", "${scheme}://$host", "#hash", "(paren)"])
EXTRA_DIRECTIVE = st.sampled_from([
    "add_header X-A b always", 'add_header X-B "c;d}" always', "client_max_body_size 1m",
    "add_header X-C '$host' always", "keepalive_timeout 5s", "add_header X-D \"e\\\\f\" always;",
])


@st.composite
def server(draw):
    entry = {"address": pick(draw, ADDRESS)}
    for key, strategy in SERVER_FIELDS:
        maybe(draw, entry, key, strategy)
    if draw(IS_HOSTILE):
        entry[draw(st.sampled_from(["wieght", "port", "x;y"]))] = 1
    return entry


SERVERS = st.lists(server(), min_size=1, max_size=4)


@st.composite
def upstream(draw, name):
    entry = {"name": pick(draw, st.just(name)), "servers": pick(draw, SERVERS), "method": pick(draw, METHOD)}
    if entry["method"] == "hash":
        entry["hash_key"] = pick(draw, HASH_KEY)
        maybe(draw, entry, "consistent", st.booleans())
    if entry["method"] == "random":
        maybe(draw, entry, "two", st.booleans())
    if entry["method"] in ("ip_hash", "hash", "random") and isinstance(entry["servers"], list):
        for item in entry["servers"]:
            if isinstance(item, dict) and not draw(IS_HOSTILE):
                item.pop("backup", None)   # mostly valid; backup here is a named error
    maybe(draw, entry, "keepalive", st.integers(0, 1000))
    maybe(draw, entry, "zone", ZONE)
    return entry


@st.composite
def role_input(draw):
    names = draw(NAMES)
    upstreams = [draw(upstream(name)) for name in names]
    locations = [{"path": pick(draw, st.just(path)), "upstream": pick(draw, st.sampled_from(names))}
                 for path in draw(PATHS)]
    headers = {draw(HEADER_NAME): pick(draw, HEADER_VALUE) for dummy in range(draw(st.integers(0, 4)))}
    extra = [pick(draw, EXTRA_DIRECTIVE) for dummy in range(draw(st.integers(0, 3)))]
    site = default_site_vars()
    site.update({
        "load_balancer_listen": pick(draw, LISTEN),
        "load_balancer_server_name": pick(draw, SERVER_NAME),
        "load_balancer_access_log": pick(draw, st.sampled_from(["off", "/dev/null"])),
        "load_balancer_access_log_buffer": pick(draw, st.sampled_from(["", "4k", "64k", "1m"])),
        "load_balancer_proxy_set_headers": pick(draw, st.just(headers)),
        "load_balancer_proxy_connect_timeout": pick(draw, TIMES),
        "load_balancer_proxy_read_timeout": pick(draw, TIMES),
        "load_balancer_proxy_next_upstream": pick(draw, st.sampled_from(
            ["error timeout", "off", "error timeout http_502 http_503", "error non_idempotent"])),
        "load_balancer_server_tokens": pick(draw, st.booleans()),
        "load_balancer_expose_upstream_addr": pick(draw, st.booleans()),
        "load_balancer_extra_directives": pick(draw, st.just(extra)),
    })
    return upstreams, locations, site


# The loader finds the templates upstream.conf.j2 includes (TLS).
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), trim_blocks=True,
                          keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
_ENV.filters["comment"] = comment
_TEMPLATE = _ENV.from_string(TEMPLATE.read_text())


def render(model):
    """The role's template, rendered as Ansible renders it (trim_blocks)."""
    return _TEMPLATE.render(ansible_managed="Ansible managed", load_balancer_model=model)


def expected_shape(model):
    """Every block, include and listen that the rendered config may hold."""
    locations = []
    for location in model["locations"]:
        if location["strip_prefix"]:
            locations += [("=", location["path"]), (location["path"] + "/",)]
        else:
            locations.append((location["path"],))
    if "/" not in [location["path"] for location in model["locations"]]:
        locations.append(("/",))
    return {
        "upstream": sorted((u["name"],) for u in model["upstreams"]),
        "server": [()],
        "location": sorted(locations),
        "listen": [(model["site"]["listen"],)],
        "include": [],
        "servers": sorted(tuple(s["directive_args"]) for u in model["upstreams"] for s in u["servers"]),
    }


def shape_of_ours(text):
    tree = parse(text, "fuzz.conf")
    shape = {key: [] for key in ("upstream", "server", "location", "listen", "include", "servers")}
    for directive in walk(tree):
        if directive.name in ("upstream", "server", "location", "listen", "include") and \
                (directive.block is not None or directive.name in ("listen", "include")):
            shape[directive.name].append(tuple(directive.args))
        elif directive.name == "server":
            shape["servers"].append(tuple(directive.args))
    return {key: sorted(value) for key, value in shape.items()}


def shape_of_crossplanes(path):
    payload = crossplane.parse(path, single=True, check_ctx=False, check_args=False, comments=False)
    assert payload["status"] == "ok", payload["errors"]
    shape = {key: [] for key in ("upstream", "server", "location", "listen", "include", "servers")}

    def visit(directives):
        for directive in directives:
            name, args = directive["directive"], tuple(directive["args"])
            if "block" in directive and name in ("upstream", "server", "location"):
                shape[name].append(args)
                visit(directive["block"])
            elif "block" in directive:
                shape.setdefault("other_blocks", []).append(name)
                visit(directive["block"])
            elif name == "server":
                shape["servers"].append(args)
            elif name in ("listen", "include"):
                shape[name].append(args)
    visit(payload["config"][0]["parsed"])
    return {key: sorted(value) for key, value in shape.items()}


class Tally:
    """What the cases of one fuzz test came to."""

    def __init__(self):
        self.generated = self.rejected = self.accepted = self.injections = self.nginx_refused = 0
        self.samples = []

    def model(self, build):
        """build()'s model, or None when the filter refused the case, which it must do by naming fields."""
        self.generated += 1
        try:
            model = build()
        except AnsibleFilterError as exc:
            self.rejected += 1
            lines = str(exc.message).splitlines()[1:]
            assert lines and all(line.strip().startswith("- load_balancer_") for line in lines), str(exc)
            return None
        self.accepted += 1
        return model

    def accepted_by_nginx(self, text, workdir, data):
        """(our parse's shape, crossplane's) of a rendered config nginx -t accepts; None (counted) if it refuses."""
        result = check_candidate(text, NGINX, shown_name="fuzz.conf")
        if not result.valid:
            self.nginx_refused += 1
            self.samples.append(("nginx -t refused", result.errors, data))
            return None
        conf = os.path.join(str(workdir), "fuzz.conf")
        with open(conf, "w") as handle:
            handle.write(text)
        return shape_of_ours(text), shape_of_crossplanes(conf)

    def judge(self, figure, label, examples):
        figure("%s cases generated / rejected / accepted" % label, "%d / %d / %d"
               % (self.generated, self.rejected, self.accepted))
        figure("%s injections found / accepted but refused by nginx -t" % label, "%d / %d"
               % (self.injections, self.nginx_refused))
        assert self.generated >= examples * 0.9
        assert self.accepted > self.generated // 10 and self.rejected > self.generated // 10
        assert self.injections == 0 and self.nginx_refused == 0, self.samples[:3]


@needs_nginx
def test_fuzzed_input_is_refused_by_name_or_renders_exactly_the_model(figure, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz")
    tally = Tally()

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=FUZZ_SEED is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @seed(int(FUZZ_SEED or 0))
    @given(role_input())
    def case(data):
        upstreams, locations, site = data
        model = tally.model(lambda: lb_model(upstreams, locations, keepalive=64, zone="64k", site=site))
        if model is None:
            return
        text = render(model)
        shapes = tally.accepted_by_nginx(text, workdir, data)
        if shapes is None:
            return
        expected = expected_shape(model)
        ours, theirs = shapes
        read_back = model_from_config(parse(text, "fuzz.conf"))
        same_model = [u.name for u in read_back.upstreams] == [u["name"] for u in model["upstreams"]] and \
            [(loc.path, loc.upstream) for loc in read_back.locations] == \
            [(loc["path"], loc["upstream"]) for loc in model["locations"]]
        if ours != expected or theirs != expected or not same_model:
            tally.injections += 1
            tally.samples.append(("shape differs", {"expected": expected, "ours": ours, "crossplane": theirs}, data))

    case()
    tally.judge(figure, "fuzz", min(FUZZ_EXAMPLES, 5000))


# ------------------------------------------------------------ streams

FUZZ_STREAM_EXAMPLES = int(os.environ.get("FUZZ_STREAM_EXAMPLES", "600"))
STREAM_TEMPLATE = _ENV.from_string((TEMPLATE.parent / "stream.conf.j2").read_text())
STREAM_MODULES = ["/etc/nginx/modules-enabled/*.conf"]
STREAM_METHOD = st.sampled_from(["round_robin", "round_robin", "least_conn", "hash", "hash", "random", "ip_hash"])
# Stream variables, and HTTP ones the stream module lacks (a named error).
STREAM_HASH_KEY = st.sampled_from(["$remote_addr", "$binary_remote_addr", "${remote_addr}x", "$server_port",
                                   "$remote_addr:$remote_port", "$request_uri"])
# Now and then the server block's port 80 (a clash for TCP, not for UDP).
STREAM_LISTEN = st.integers(0, 15).flatmap(
    lambda i: st.sampled_from(["80", "127.0.0.1:80"]) if i == 7 else
    st.tuples(st.sampled_from(LISTEN_HOSTS), st.integers(19000, 19003)).map(lambda t: "%s:%d" % t) if i == 9 else
    st.integers(1024, 65535).map(lambda p: str(p) if i % 2 else "127.0.0.1:%d" % p))


@st.composite
def stream(draw, name):
    entry = {"name": pick(draw, st.just(name)), "listen": pick(draw, STREAM_LISTEN), "servers": pick(draw, SERVERS),
             "method": pick(draw, STREAM_METHOD)}
    maybe(draw, entry, "protocol", st.sampled_from(["tcp", "udp"]))
    if entry["method"] == "hash":
        entry["hash_key"] = pick(draw, STREAM_HASH_KEY)
        maybe(draw, entry, "consistent", st.booleans())
    if entry["method"] == "random":
        maybe(draw, entry, "two", st.booleans())
    if entry["method"] in ("hash", "random") and isinstance(entry["servers"], list):
        for item in entry["servers"]:
            if isinstance(item, dict) and not draw(IS_HOSTILE):
                item.pop("backup", None)
    maybe(draw, entry, "zone", st.sampled_from(["64k", "32k", "1m"]))
    maybe(draw, entry, "proxy_timeout", TIMES)
    maybe(draw, entry, "proxy_connect_timeout", TIMES)
    maybe(draw, entry, "proxy_protocol", st.booleans())
    return entry


@st.composite
def stream_input(draw):
    return [draw(stream(name)) for name in draw(NAMES)]


def stream_shape(model):
    """Every block, listen and server the rendered stream file may hold."""
    return {
        "stream": [()],
        "upstream": sorted((s["upstream"]["name"],) for s in model["streams"]),
        "server": [()] * len(model["streams"]),
        "listen": sorted(tuple(s["listen_args"].split()) for s in model["streams"]),
        "include": [],
        "servers": sorted(tuple(v["directive_args"]) for s in model["streams"] for v in s["upstream"]["servers"]),
    }


def shape_of_stream_file(text):
    shape = {key: [] for key in ("stream", "upstream", "server", "listen", "include", "servers")}
    for directive in walk(parse(text, "fuzz_stream.conf")):
        if directive.name in ("stream", "upstream", "server") and directive.block is not None:
            shape[directive.name].append(tuple(directive.args))
        elif directive.name == "server":
            shape["servers"].append(tuple(directive.args))
        elif directive.name in ("listen", "include"):
            shape[directive.name].append(tuple(directive.args))
        elif directive.block is not None:
            shape.setdefault("other_blocks", []).append(directive.name)
    return {key: sorted(value) for key, value in shape.items()}


@needs_nginx
def test_fuzzed_streams_are_refused_by_name_or_render_exactly_the_model(figure):
    if not os.path.exists("/usr/lib/nginx/modules/ngx_stream_module.so"):
        pytest.skip("nginx's stream module is not installed (make host-tools)")
    tally = Tally()
    site = default_site_vars()

    @settings(max_examples=FUZZ_STREAM_EXAMPLES, derandomize=FUZZ_SEED is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @seed(int(FUZZ_SEED or 0))
    @given(stream_input())
    def case(streams):
        model = tally.model(lambda: lb_model([], [], keepalive=64, zone="64k", site=site, streams=streams))
        if model is None:
            return
        text = STREAM_TEMPLATE.render(ansible_managed="Ansible managed", load_balancer_model=model)
        result = check_candidate(text, NGINX, shown_name="fuzz_stream.conf", stream_modules=STREAM_MODULES)
        if not result.valid:
            tally.nginx_refused += 1
            tally.samples.append(("nginx -t refused", result.errors, streams))
            return
        read_back = model_from_config(parse(text, "fuzz_stream.conf"))
        same_model = [(s.name, s.listen, s.protocol) for s in read_back.streams] == \
            [(s["name"], s["listen"], s["protocol"]) for s in model["streams"]]
        if shape_of_stream_file(text) != stream_shape(model) or not same_model:
            tally.injections += 1
            tally.samples.append(("shape differs", {"expected": stream_shape(model),
                                                    "ours": shape_of_stream_file(text)}, streams))

    case()
    tally.judge(figure, "stream fuzz", FUZZ_STREAM_EXAMPLES)


# ------------------------------------------------------------ sites

FUZZ_SITE_EXAMPLES = int(os.environ.get("FUZZ_SITE_EXAMPLES", "800"))


def rarely(common, rare):
    """A site case has many fields: each wrong one rarer, so that about one case in five reaches nginx -t."""
    return st.integers(0, 31).flatmap(lambda i: rare if i in (11, 23) else common)


SITE_NAME = now_and_then(st.sampled_from(["shop", "api", "plain", "a_1"]),
                         st.sampled_from(["Shop", "sh op", "a-b", "x" * 65, ""]), one_in=10)
# Two ports (sites share them: the agreement rules), now and then one of the other spellings.
SITE_LISTEN = now_and_then(st.sampled_from(["18080", "127.0.0.1:18081"]), LISTEN, one_in=10)
NETWORKS = st.lists(rarely(st.sampled_from(["10.0.0.0/8", "127.0.0.1", "192.0.2.0/24", "2001:db8::/32"]),
                           st.sampled_from(["10.0.0.0/33", "all", "10.0.0.0/8 ; deny", "::/zz", ""])),
                    min_size=1, max_size=3)
REDIRECT_TO = rarely(st.sampled_from(["/", "/new", "https://example.com/", "https://$host$request_uri",
                                      "/a?b=c&d"]),
                     st.sampled_from(["javascript:x", "/$nosuchvar", "/x y", "http://[::1]/"]))
RETURN_BODY = rarely(st.sampled_from(["ok", "a b", "x;y{z}", "q\"uo'te", "$host", "back\\slash"]),
                     st.sampled_from(["", "$nosuchvar", "a\nb"]))
SITE_PATHS = st.lists(st.lists(SEGMENT, min_size=1, max_size=2).map(lambda parts: "/" + "/".join(parts)),
                      min_size=1, max_size=3, unique=True).map(lambda paths: paths + ["/"] if len(paths) == 1 else paths)


@st.composite
def site_location(draw, path, names):
    entry = {"path": pick(draw, st.just(path))}
    target = draw(st.sampled_from(["upstream", "upstream", "upstream", "redirect", "return"]))
    if target == "upstream":
        entry["upstream"] = pick(draw, st.sampled_from(names))
        maybe(draw, entry, "websocket", st.booleans())
        maybe(draw, entry, "buffering", st.booleans())
        maybe(draw, entry, "proxy_read_timeout", TIMES)
        maybe(draw, entry, "headers", st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=2))
        if draw(st.integers(0, 3)) == 1:
            entry["rate_limit"] = {"rate": pick(draw, rarely(st.sampled_from(["5r/s", "30r/m"]),
                                                             st.sampled_from(["0r/s", "5r/h"]))),
                                   "burst": pick(draw, st.integers(0, 20))}
    elif target == "redirect":
        entry["redirect"] = {"to": pick(draw, REDIRECT_TO),
                             "code": pick(draw, rarely(st.sampled_from([301, 302, 308]), st.just(200)))}
    else:
        entry["return"] = {"code": pick(draw, rarely(st.sampled_from([200, 204, 404, 503]), st.sampled_from([444, 99])))}
        maybe(draw, entry["return"], "body", RETURN_BODY)
    maybe(draw, entry, "client_max_body_size", rarely(st.sampled_from(["0", "1k", "10m"]), st.just("1 m")))
    if draw(st.integers(0, 3)) == 1:
        entry["allow"] = pick(draw, NETWORKS)
    return entry


@st.composite
def sites_input(draw):
    names = draw(NAMES)
    upstreams = [draw(upstream(name)) for name in names]
    sites = []
    for index in range(draw(st.integers(1, 3))):
        # Mostly a name of its own (a clash of names, defaults or ports is a named error, but rarer).
        own = ("shop", "api", "plain")[index]
        site = {"name": pick(draw, now_and_then(st.just(own), SITE_NAME, one_in=6)),
                "server_names": pick(draw, now_and_then(st.just(["%s.example.test" % own]),
                                                        st.lists(SERVER_NAME, min_size=1, max_size=2), one_in=4)),
                "locations": [draw(site_location(path, names)) for path in draw(SITE_PATHS)]}
        maybe(draw, site, "listen", st.lists(SITE_LISTEN, min_size=1, max_size=2))
        if draw(st.integers(0, 3)) == 1:
            site["default"] = pick(draw, st.booleans())
        maybe(draw, site, "log_format", rarely(st.sampled_from(["combined", "json"]), st.just("xml")))
        maybe(draw, site, "access_log", rarely(st.sampled_from(["off", "/dev/null"]), st.just("/dev/null x")))
        if draw(st.booleans()):
            site["tls"] = {"mode": pick(draw, st.sampled_from(["none", "selfsigned", "selfsigned"])),
                           "port": pick(draw, st.sampled_from([18443, 18444])),
                           "redirect": pick(draw, st.booleans()), "http2": pick(draw, st.booleans())}
        if draw(st.integers(0, 3)) == 1:
            site["real_ip"] = {"from": pick(draw, NETWORKS)}
            if draw(st.integers(0, 3)) == 1:
                site["real_ip"]["proxy_protocol"] = True
            else:
                site["real_ip"]["header"] = pick(draw, rarely(st.sampled_from(["X-Forwarded-For", "X-Real-IP"]),
                                                              st.just("X Y")))
        sites.append(site)
    return upstreams, sites


def sites_shape(model):
    """Every block and listen the sites' config may hold: each site's server
    (and redirect server), the catch-alls, the locations, the listens."""
    servers, locations, listens = [], [], []
    http2 = " http2"
    for site in model["sites"]:
        tls = site["tls"]
        servers.append(())
        if not (tls and tls["redirect"]):
            listens += [tuple(listen.split()) for listen in site["listens"]]
        if tls:
            listens += [tuple((listen + " ssl" + (http2 if tls["http2"] else "")).split()) for listen in tls["listens"]]
            if tls["redirect"]:
                servers.append(())
                listens += [tuple(listen.split()) for listen in site["listens"]]
                locations.append(("/",))
        for location in site["locations"]:
            if location["strip_prefix"]:
                locations += [("=", location["path"]), (location["path"] + "/",)]
            else:
                locations.append((location["path"],))
        if not site["has_root"]:
            locations.append(("/",))
    catch_all = model["http"]["catch_all"]
    if catch_all["listens"]:
        servers.append(())
        listens += [tuple(listen.split()) for listen in catch_all["listens"]]
    if catch_all["tls_listens"]:
        servers.append(())
        listens += [tuple((listen + " ssl" + (http2 if catch_all["http2"] else "")).split())
                    for listen in catch_all["tls_listens"]]
    shape = {
        "upstream": sorted((u["name"],) for u in model["upstreams"]),
        "server": servers, "location": sorted(locations), "listen": sorted(listens), "include": [],
        "servers": sorted(tuple(s["directive_args"]) for u in model["upstreams"] for s in u["servers"]),
    }
    if model["http"]["websocket_map"]:
        shape["other_blocks"] = ["map"]
    return shape


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    """One key and certificate, copied to every path a fuzzed config names."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=fuzz", "-keyout", str(directory / "pair.key"),
                    "-out", str(directory / "pair.crt")], check=True, capture_output=True, timeout=60)
    return directory


@needs_nginx
def test_fuzzed_sites_are_refused_by_name_or_render_exactly_the_model(figure, tmp_path_factory, tls_pair):
    workdir = tmp_path_factory.mktemp("fuzz_sites")
    tally = Tally()

    @settings(max_examples=FUZZ_SITE_EXAMPLES, derandomize=FUZZ_SEED is None, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @seed(int(FUZZ_SEED or 0))
    @given(sites_input())
    def case(data):
        upstreams, sites = data
        model = tally.model(lambda: lb_model(upstreams, [], keepalive=64, zone="64k", site=default_site_vars(),
                                             sites=sites, tls_dir=str(tls_pair)))
        if model is None:
            return
        for pair in model["http"]["tls_pairs"]:
            shutil.copyfile(tls_pair / "pair.key", pair["key_path"])
            shutil.copyfile(tls_pair / "pair.crt", pair["cert_path"])
        text = render(model)
        shapes = tally.accepted_by_nginx(text, workdir, data)
        if shapes is None:
            return
        expected = sites_shape(model)
        ours, theirs = shapes
        ours = dict(ours, server=sorted(ours["server"]), **({"other_blocks": ["map"]} if "other_blocks" in expected
                                                            else {}))
        if ours != expected or theirs != expected:
            tally.injections += 1
            tally.samples.append(("shape differs", {"expected": expected, "ours": ours, "crossplane": theirs}, data))

    case()
    tally.judge(figure, "sites fuzz", min(FUZZ_SITE_EXAMPLES, 800))
