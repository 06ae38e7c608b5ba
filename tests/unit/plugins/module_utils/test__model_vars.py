"""Role variables -> the model: every wrong field named, hostile values refused."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import method_args, server_args

from helpers.paths import default_site_vars, tutorial_vars

INJECTION = "$request_uri; server 127.0.0.1:7001; }\nserver { listen 18088; location / { return 200 'injected'; } }" \
            "\nupstream zz { hash $request_uri"


def errors_of(upstreams, locations, site=None):
    with pytest.raises(ModelError) as caught:
        model_from_vars(upstreams, locations, site_vars=site)
    return caught.value.errors


@pytest.mark.parametrize("mutate, field, words", [
    (lambda u, l: u[4]["servers"][0].update(weight=0), "load_balancer_upstreams[4].servers[0].weight", "1-1000"),
    (lambda u, l: u[4]["servers"][0].update(weight="heavy"), "load_balancer_upstreams[4].servers[0].weight", "integer"),
    (lambda u, l: u[4]["servers"][0].update(weight="--5"), "load_balancer_upstreams[4].servers[0].weight", "integer"),
    (lambda u, l: u[4]["servers"][0].update(weight="²"), "load_balancer_upstreams[4].servers[0].weight", "integer"),
    (lambda u, l: u[4]["servers"][0].update(weight="７"), "load_balancer_upstreams[4].servers[0].weight", "integer"),
    (lambda u, l: u[1]["servers"][0].update(max_fails=10 ** 20), "load_balancer_upstreams[1].servers[0].max_fails", "0-1000"),
    (lambda u, l: u[1]["servers"][0].update(max_conns=10 ** 20), "load_balancer_upstreams[1].servers[0].max_conns", "0-1000000"),
    (lambda u, l: u[1]["servers"][0].update(fail_timeout="1e20"), "load_balancer_upstreams[1].servers[0].fail_timeout", "nginx time"),
    (lambda u, l: u[1]["servers"][0].update(fail_timeout="99999999y"), "load_balancer_upstreams[1].servers[0].fail_timeout", "one year"),
    (lambda u, l: u[1]["servers"][0].update(fail_timeout="500ms"), "load_balancer_upstreams[1].servers[0].fail_timeout", "nginx time"),
    (lambda u, l: u[1]["servers"][0].update(fail_timeout="soon"), "load_balancer_upstreams[1].servers[0].fail_timeout", "nginx time"),
    (lambda u, l: u[1]["servers"][0].update(address="127.0.0.1:70000"), "load_balancer_upstreams[1].servers[0].address", "1-65535"),
    (lambda u, l: u[1]["servers"][0].update(address="127.0.0.1"), "load_balancer_upstreams[1].servers[0].address", "host:port"),
    (lambda u, l: u[1]["servers"][0].update(address="bad host:80"), "load_balancer_upstreams[1].servers[0].address", "valid host"),
    (lambda u, l: u[1]["servers"][0].update(address="127.0.0.1:７００１"), "load_balancer_upstreams[1].servers[0].address", "port"),
    (lambda u, l: u[1]["servers"][0].update(address="h:80;down"), "load_balancer_upstreams[1].servers[0].address", "port"),
    (lambda u, l: u[1]["servers"].__setitem__(0, "127.0.0.1:7001"), "load_balancer_upstreams[1].servers[0]", "dict"),
    (lambda u, l: u[1]["servers"][0].update(wieght=2), "load_balancer_upstreams[1].servers[0].wieght", "unknown key"),
    (lambda u, l: u[1].update(method="fastest"), "load_balancer_upstreams[1].method", "one of"),
    (lambda u, l: u[1].update(colour="red"), "load_balancer_upstreams[1].colour", "unknown key"),
    (lambda u, l: u[1].update(servers=[]), "load_balancer_upstreams[1].servers", "non-empty"),
    (lambda u, l: u[1].update(name="leastconn"), "load_balancer_upstreams[2].name", "duplicate upstream"),
    (lambda u, l: u[1].update(name="a b"), "load_balancer_upstreams[1].name", "letters"),
    (lambda u, l: u[1].update(name="x" * 200), "load_balancer_upstreams[1].name", "1-128"),
    (lambda u, l: u[1].update(method="hash"), "load_balancer_upstreams[1].hash_key", "required"),
    (lambda u, l: u[1].update(method="hash", hash_key=INJECTION), "load_balancer_upstreams[1].hash_key", "nginx variables"),
    (lambda u, l: u[1].update(method="hash", hash_key="$nonexistent"), "load_balancer_upstreams[1].hash_key", "$nonexistent"),
    (lambda u, l: u[1].update(method="hash", hash_key="$" + "x" * 5000), "load_balancer_upstreams[1].hash_key", "at most 256"),
    (lambda u, l: u[1].update(two=True), "load_balancer_upstreams[1].two", "only valid with method random"),
    (lambda u, l: u[3]["servers"][0].update(backup=True), "load_balancer_upstreams[3].servers[0].backup", "ip_hash"),
    (lambda u, l: u[1]["servers"].append({"address": "127.0.0.1:7001"}), "load_balancer_upstreams[1].servers[3].address", "duplicate server"),
    (lambda u, l: u[1]["servers"].append({"address": "127.0.0.1:07001"}), "load_balancer_upstreams[1].servers[3].address", "duplicate server 127.0.0.1:7001"),
    (lambda u, l: [s.update(down=True) for s in u[1]["servers"]], "load_balancer_upstreams[1].servers", "no usable server"),
    (lambda u, l: u[1].update(zone="huge"), "load_balancer_upstreams[1].zone", "size"),
    (lambda u, l: u[1].update(zone="0"), "load_balancer_upstreams[1].zone", "32k"),
    (lambda u, l: u[1].update(zone="64k;"), "load_balancer_upstreams[1].zone", "size"),
    (lambda u, l: u[1].update(keepalive=10 ** 20), "load_balancer_upstreams[1].keepalive", "1-100000"),
    (lambda u, l: l[0].update(path="proxy"), "load_balancer_locations[0].path", "start with '/'"),
    (lambda u, l: l[0].update(path="/a b"), "load_balancer_locations[0].path", "hold only letters"),
    (lambda u, l: l[0].update(path="/a\n"), "load_balancer_locations[0].path", "hold only letters"),
    (lambda u, l: l[0].update(path="/a{"), "load_balancer_locations[0].path", "hold only letters"),
    (lambda u, l: l[0].update(path="/" + "a" * 5000), "load_balancer_locations[0].path", "at most 1024"),
    (lambda u, l: l[0].update(upstream="nowhere"), "load_balancer_locations[0].upstream", "undefined upstream"),
    (lambda u, l: l[1].update(path="/proxy"), "load_balancer_locations[1].path", "duplicate location"),
    (lambda u, l: l[0].update(upstrem="x"), "load_balancer_locations[0].upstrem", "unknown key"),
])
def test_bad_input_names_the_field(mutate, field, words):
    upstreams, locations = tutorial_vars()
    mutate(upstreams, locations)
    errors = errors_of(upstreams, locations)
    matching = [e for e in errors if e.startswith(field + ":")]
    assert matching, errors
    assert words in matching[0]


@pytest.mark.parametrize("var, value, words", [
    ("load_balancer_listen", "²", "port"),
    ("load_balancer_listen", "80\n", "port"),
    ("load_balancer_listen", "80; include /etc/passwd", "port"),
    ("load_balancer_listen", "70000", "1-65535"),
    ("load_balancer_server_name", "x; }", "not a server name"),
    ("load_balancer_server_name", "a\nb", "not a server name"),
    ("load_balancer_server_name", "x" * 5000, "at most 253"),
    ("load_balancer_server_name", "~^(unclosed", "unbalanced '('"),
    ("load_balancer_server_name", "~^a\nb$", "printable ASCII"),
    ("load_balancer_access_log", "/var/log/a.log main; include /x", "absolute path"),
    ("load_balancer_access_log", "/var/log/a.log\n", "absolute path"),
    ("load_balancer_access_log_buffer", "64k flush=1s; }", "nginx size"),
    ("load_balancer_access_log_buffer", "0", "1k-64m"),
    ("load_balancer_proxy_set_headers", {"Host": "$host; }"}, None),   # quoted, so accepted
    ("load_balancer_proxy_set_headers", {"Host": "$host\nserver {"}, "control character"),
    ("load_balancer_proxy_set_headers", {"X-A": "$nonexistent"}, "$nonexistent"),
    ("load_balancer_proxy_set_headers", {"X-A": "cost $"}, "starts no variable"),
    ("load_balancer_proxy_set_headers", {"X A;": "v"}, "header name"),
    ("load_balancer_proxy_set_headers", {"Connection": "upgrade"}, "set by the role"),
    ("load_balancer_proxy_set_headers", {"X-A": "caf\u00e9"}, "printable ASCII"),
    ("load_balancer_proxy_set_headers", {"X-A": "v" * 5000}, "at most 1024"),
    ("load_balancer_proxy_connect_timeout", "2s; return 200", "nginx time"),
    ("load_balancer_proxy_read_timeout", "1e20", "nginx time"),
    ("load_balancer_proxy_read_timeout", "999999999y", "one year"),
    ("load_balancer_proxy_next_upstream", "error; return 200", "'off' or distinct words"),
    ("load_balancer_proxy_next_upstream", "off error", "'off' or distinct words"),
    ("load_balancer_extra_directives", ["add_header X a; include /etc/passwd"], "one simple directive"),
    ("load_balancer_extra_directives", ["location /x { return 200; }"], "one simple directive"),
    ("load_balancer_extra_directives", ["include /etc/passwd"], "not one the role takes"),
    ("load_balancer_extra_directives", ["listen 18088"], "not one the role takes"),
    ("load_balancer_extra_directives", ["a"], "not one the role takes"),
    ("load_balancer_extra_directives", ["error_log /etc/shadow"], "not one the role takes"),
    ("load_balancer_extra_directives", ["set $x 1"], "not one the role takes"),
    ("load_balancer_extra_directives", ["proxy_read_timeout 5s"], "set by the role"),
    ("load_balancer_extra_directives", ["keepalive_timeout 5s", "keepalive_timeout 6s"], "given twice"),
    ("load_balancer_extra_directives", ["add_header X $nonexistent"], "$nonexistent"),
    ("load_balancer_server_tokens", "maybe", "boolean"),
])
def test_bad_server_block_input_names_the_variable(var, value, words):
    upstreams, locations = tutorial_vars()
    site = dict(default_site_vars(), **{var: value})
    if words is None:
        model_from_vars(upstreams, locations, site_vars=site)
        return
    errors = errors_of(upstreams, locations, site)
    matching = [e for e in errors if e.startswith(var)]
    assert matching and all(e.split(":")[0].startswith(var) for e in errors), errors
    assert words in matching[0], errors


def test_the_defaults_build_the_tutorials_model_and_server_block():
    model = model_from_vars(*tutorial_vars(), site_vars=default_site_vars(), default_keepalive=64, default_zone="64k")
    assert [u.name for u in model.upstreams] == ["app_server_7001", "roundrobin", "leastconn", "iphash", "weighted"]
    assert model.site.listen == "80" and model.site.server_names == ["_"]
    assert model.site.proxy_next_upstream == ["error", "timeout"]


def test_an_extra_directive_is_kept_as_words():
    site = dict(default_site_vars(), load_balancer_extra_directives=['add_header X-A "b; c}" always;'])
    model = model_from_vars(*tutorial_vars(), site_vars=site)
    assert model.site.extra_directives == [["add_header", "X-A", "b; c}", "always"]]


@pytest.mark.parametrize("value, expected", [(False, False), ("no", False), ("false", False), (0, False),
                                             (True, True), ("yes", True)])
def test_false_means_off(value, expected):
    upstreams, locations = tutorial_vars()
    upstreams[1]["servers"][0]["backup"] = value
    model = model_from_vars(upstreams, locations)
    assert model.upstream("roundrobin").servers[0].backup is expected
    assert ("backup" in server_args(model.upstream("roundrobin").servers[0])) is expected


def test_defaults_add_zone_and_keepalive_unless_overridden():
    upstreams, locations = tutorial_vars()
    upstreams[2]["zone"] = False
    upstreams[2]["keepalive"] = 0
    model = model_from_vars(upstreams, locations, default_keepalive=16, default_zone="64k")
    assert (model.upstream("roundrobin").zone, model.upstream("roundrobin").keepalive) == ("64k", 16)
    assert (model.upstream("leastconn").zone, model.upstream("leastconn").keepalive) == (None, None)


@pytest.mark.parametrize("raw, args", [
    ({"name": "u", "servers": [{"address": "h:1"}]}, None),
    ({"name": "u", "method": "least_conn", "servers": [{"address": "h:1"}]}, ["least_conn"]),
    ({"name": "u", "method": "hash", "hash_key": "$request_uri", "consistent": True, "servers": [{"address": "h:1"}]},
     ["hash", "$request_uri", "consistent"]),
    ({"name": "u", "method": "random", "two": "yes", "servers": [{"address": "h:1"}]}, ["random", "two"]),
])
def test_method_line(raw, args):
    model = model_from_vars([raw], [])
    assert method_args(model.upstreams[0]) == args


def test_addresses_are_written_normalised():
    model = model_from_vars([{"name": "u", "servers": [{"address": "127.0.0.1:07001"}, {"address": "[0::1]:80"}]}], [])
    assert [s.address for s in model.upstreams[0].servers] == ["127.0.0.1:7001", "[::1]:80"]


def test_the_input_is_not_changed():
    upstreams, locations = tutorial_vars()
    before = repr((upstreams, locations))
    model_from_vars(upstreams, locations, default_keepalive=16, default_zone="64k")
    assert repr((upstreams, locations)) == before
