"""load_balancer_sites in the one model and check: every field named when
wrong, what sites sharing a listen must agree on, and the words the
template joins."""

import copy

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars

UPSTREAMS = [{"name": "shop", "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"}]},
             {"name": "api", "servers": [{"address": "127.0.0.1:7003"}]}]
SITES = [
    {"name": "shop", "server_names": ["shop.example.test"], "tls": {"mode": "selfsigned"},
     "locations": [{"path": "/", "upstream": "shop"}, {"path": "/ws", "upstream": "shop", "websocket": True}]},
    {"name": "api", "server_names": ["api.example.test"], "log_format": "json",
     "locations": [{"path": "/", "upstream": "api", "rate_limit": {"rate": "5r/s", "burst": 5}},
                   {"path": "/health", "return": {"code": 200, "body": "ok"}}]},
]
SITE_VARS = {"load_balancer_listen": "80", "load_balancer_proxy_set_headers": {"Host": "$host"}}


def build(sites=None, upstreams=None, **kwargs):
    return model_from_vars(copy.deepcopy(upstreams or UPSTREAMS), [], site_vars=dict(SITE_VARS),
                           sites=copy.deepcopy(sites if sites is not None else SITES), tls_dir="/etc/nginx/tls", **kwargs)


def errors_of(sites, **kwargs):
    with pytest.raises(ModelError) as caught:
        build(sites, **kwargs)
    return caught.value.errors


def with_change(index, change, location=None):
    sites = copy.deepcopy(SITES)
    target = sites[index] if location is None else sites[index]["locations"][location]
    for key, value in change.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return sites


@pytest.mark.parametrize("sites, field", [
    (with_change(0, {"name": "Shop"}), "load_balancer_sites[0].name"),
    (with_change(0, {"name": "sh op"}), "load_balancer_sites[0].name"),
    (with_change(1, {"name": "shop"}), "load_balancer_sites[1].name"),
    (with_change(0, {"server_names": None}), "load_balancer_sites[0].server_names"),
    (with_change(0, {"server_names": ["shop example"]}), "load_balancer_sites[0].server_names"),
    (with_change(0, {"listen": ["80; x"]}), "load_balancer_sites[0].listen"),
    (with_change(0, {"log_format": "xml"}), "load_balancer_sites[0].log_format"),
    (with_change(0, {"access_log": "/var/log/a b"}), "load_balancer_sites[0].access_log"),
    (with_change(0, {"tls": {"mode": "acme", "acme_directory": "http://ca.example.test/dir"}}),
     "load_balancer_sites[0].tls.acme_directory"),
    (with_change(0, {"tls": {"mode": "acme"}, "server_names": ["_"]}), "load_balancer_sites[0].tls.domains"),
    (with_change(0, {"tls": {"mode": "bogus"}}), "load_balancer_sites[0].tls.mode"),
    (with_change(0, {"real_ip": {"from": ["10.0.0.0/33"]}}), "load_balancer_sites[0].real_ip.from"),
    (with_change(0, {"real_ip": {"from": ["10.0.0.0/8"], "header": "X Bad"}}), "load_balancer_sites[0].real_ip.header"),
    (with_change(0, {"real_ip": {"from": ["10.0.0.0/8"], "header": "X-Real-IP", "proxy_protocol": True}}),
     "load_balancer_sites[0].real_ip"),
    (with_change(0, {"surprise": 1}), "load_balancer_sites[0].surprise"),
    (with_change(0, {"locations": []}), "load_balancer_sites[0].locations"),
    (with_change(0, {"upstream": None}, 0), "load_balancer_sites[0].locations[0]"),
    (with_change(0, {"redirect": {"to": "/x"}}, 0), "load_balancer_sites[0].locations[0]"),
    (with_change(0, {"upstream": "missing"}, 0), "load_balancer_sites[0].locations[0].upstream"),
    (with_change(0, {"path": "/a b"}, 0), "load_balancer_sites[0].locations[0].path"),
    (with_change(0, {"path": "/"}, 1), "load_balancer_sites[0].locations[1].path"),
    (with_change(0, {"upstream": None, "redirect": {"to": "/x\n"}}, 0), "load_balancer_sites[0].locations[0].redirect.to"),
    (with_change(0, {"upstream": None, "redirect": {"to": "javascript:x"}}, 0),
     "load_balancer_sites[0].locations[0].redirect.to"),
    (with_change(0, {"upstream": None, "redirect": {"to": "/x", "code": 200}}, 0),
     "load_balancer_sites[0].locations[0].redirect.code"),
    (with_change(0, {"upstream": None, "redirect": {"to": "/$nosuchvar"}}, 0),
     "load_balancer_sites[0].locations[0].redirect.to"),
    (with_change(1, {"return": {"code": 99}}, 1), "load_balancer_sites[1].locations[1].return.code"),
    (with_change(1, {"return": {"code": 200, "body": "a\nb"}}, 1), "load_balancer_sites[1].locations[1].return.body"),
    (with_change(1, {"return": {"code": 444, "body": "x"}}, 1), "load_balancer_sites[1].locations[1].return.body"),
    (with_change(1, {"websocket": True}, 1), "load_balancer_sites[1].locations[1].websocket"),
    (with_change(0, {"websocket": "maybe"}, 1), "load_balancer_sites[0].locations[1].websocket"),
    (with_change(0, {"client_max_body_size": "1 m"}, 0), "load_balancer_sites[0].locations[0].client_max_body_size"),
    (with_change(0, {"proxy_read_timeout": "1x"}, 0), "load_balancer_sites[0].locations[0].proxy_read_timeout"),
    (with_change(0, {"headers": {"Bad Name": "x"}}, 0), "load_balancer_sites[0].locations[0].headers.Bad Name"),
    (with_change(0, {"headers": {"X-A": "a\"; }"}}, 0), None),   # quoted: accepted
    (with_change(0, {"headers": {"X-A": "$nosuchvar"}}, 0), "load_balancer_sites[0].locations[0].headers.X-A"),
    (with_change(0, {"headers": {"Upgrade": "x"}}, 1), "load_balancer_sites[0].locations[1].headers.Upgrade"),
    (with_change(0, {"headers": {"Connection": "x"}}, 0), "load_balancer_sites[0].locations[0].headers.Connection"),
    (with_change(0, {"allow": ["all"]}, 0), "load_balancer_sites[0].locations[0].allow"),
    (with_change(0, {"allow": ["10.0.0.0/8 ; deny"]}, 0), "load_balancer_sites[0].locations[0].allow"),
    (with_change(1, {"rate_limit": {"rate": "5r/h"}}, 0), "load_balancer_sites[1].locations[0].rate_limit.rate"),
    (with_change(1, {"rate_limit": {"rate": "0r/s"}}, 0), "load_balancer_sites[1].locations[0].rate_limit.rate"),
    (with_change(1, {"rate_limit": {"rate": "5r/s", "burst": -1}}, 0), "load_balancer_sites[1].locations[0].rate_limit.burst"),
    (with_change(1, {"rate_limit": {"rate": "5r/s", "zone": "x"}}, 0), "load_balancer_sites[1].locations[0].rate_limit.zone"),
])
def test_a_wrong_field_is_named(sites, field):
    if field is None:
        build(sites)
        return
    errors = errors_of(sites)
    assert any(error.startswith(field + ":") for error in errors), errors


@pytest.mark.parametrize("change, field, words", [
    # Two defaults on one listen.
    ({0: {"default": True}, 1: {"default": True}}, "load_balancer_sites[1].default", "only one default"),
    # One name on one listen twice.
    ({1: {"server_names": ["shop.example.test"]}}, "load_balancer_sites[1].server_names", "shop.example.test"),
    # PROXY protocol is a property of the port.
    ({1: {"real_ip": {"from": ["10.0.0.0/8"], "proxy_protocol": True}}}, "load_balancer_sites[1].real_ip",
     "proxy_protocol must be the same"),
    # A port with TLS in one site and plain in another.
    ({1: {"listen": ["443"]}}, "load_balancer_sites", "TLS"),
])
def test_sites_on_one_listen_must_agree(change, field, words):
    sites = copy.deepcopy(SITES)
    for index, values in change.items():
        sites[index].update(values)
    errors = errors_of(sites)
    assert any(error.startswith(field) and words in error for error in errors), errors


def test_sites_on_other_listens_may_share_names_and_defaults():
    sites = copy.deepcopy(SITES)
    sites[1].update(listen=["8081"], server_names=["shop.example.test"], default=True)
    sites[0]["default"] = True
    assert [site.name for site in build(sites).sites] == ["shop", "api"]


def test_an_upstream_named_like_a_rate_limit_zone_is_refused():
    upstreams = copy.deepcopy(UPSTREAMS) + [{"name": "edgeops_rl_api_0", "servers": [{"address": "127.0.0.1:7009"}]}]
    with pytest.raises(ModelError) as caught:
        build(upstreams=upstreams)
    assert any(error.startswith("edgeops_rl_api_0") or "rate limit zone" in error for error in caught.value.errors)


def test_mixing_with_the_single_site_variables_is_named():
    errors = errors_of(SITES, mixed=["load_balancer_locations"])
    assert any(error.startswith("load_balancer_sites: cannot be combined with load_balancer_locations")
               for error in errors)


def test_the_words_of_the_template():
    data = model_to_dict(build())
    shop, api = data["sites"]
    assert data["site"] is None and [loc.path for loc in build().locations] == ["/", "/ws", "/"]
    assert shop["listens"] == ["80"] and shop["tls"]["listens"] == ["443"]
    assert shop["tls"]["cert_path"] == "/etc/nginx/tls/site_shop.crt"
    assert shop["access_log"] == "/var/log/nginx/shop.access.log edgeops_lb"
    assert api["access_log"] == "/var/log/nginx/api.access.log edgeops_lb_json"
    ws = shop["locations"][1]
    # The server block's headers are repeated: nginx drops them in a location that sets its own.
    assert ws["proxy_set_headers"] == [["Connection", "$edgeops_connection_upgrade"], ["Upgrade", "$http_upgrade"],
                                       ["Host", "$host"]]
    assert shop["locations"][0]["proxy_set_headers"] is None
    assert api["locations"][0]["directives"] == ["limit_req zone=edgeops_rl_api_0 burst=5 nodelay",
                                                 "limit_req_status 429"]
    assert api["locations"][1]["return"] == "200 ok"
    # Verified through each site's name: not the rate-limited, the WebSocket or the return location.
    assert shop["verify_host"] == "shop.example.test" and shop["verify_locations"] == [{"path": "/", "upstream": "shop"}]
    assert api["verify_locations"] == []
    http = data["http"]
    assert http["json_log"] and http["websocket_map"]
    assert http["limit_req_zones"] == ["$binary_remote_addr zone=edgeops_rl_api_0:4m rate=5r/s"]
    assert http["catch_all"]["listens"] == ["80 default_server"]
    assert http["catch_all"]["tls_listens"] == ["443 default_server"]
    assert [pair["name"] for pair in http["tls_pairs"]] == ["shop", "catch_all"]


def test_a_default_site_takes_the_catch_alls_place_on_its_listens():
    sites = copy.deepcopy(SITES)
    sites[0]["default"] = True
    data = model_to_dict(build(sites))
    assert data["sites"][0]["listens"] == ["80 default_server"]
    assert data["http"]["catch_all"]["listens"] == [] and data["http"]["catch_all"]["tls_listens"] == []
    assert [pair["name"] for pair in data["http"]["tls_pairs"]] == ["shop"]


def test_the_single_site_model_has_one_site_and_no_catch_all():
    model = model_from_vars(copy.deepcopy(UPSTREAMS), [{"path": "/shop", "upstream": "shop"}], site_vars=dict(SITE_VARS))
    data = model_to_dict(model)
    assert len(data["sites"]) == 1 and data["http"]["catch_all"] is None
    assert data["sites"][0]["listens"] == ["80"] and data["sites"][0]["locations"][0]["path"] == "/shop"


def test_acme_certifies_each_sites_own_names_with_its_own_files():
    sites = copy.deepcopy(SITES)
    sites[0]["tls"] = {"mode": "acme", "acme_directory": "https://ca.example.test/dir"}
    sites[1]["tls"] = {"mode": "acme", "acme_directory": "https://ca.example.test/dir", "domains": ["api.example.org"]}
    http = model_to_dict(build(sites))["http"]
    assert [(cert["stem"], cert["domains"], cert["cert_path"]) for cert in http["acme_certificates"]] == [
        ("acme_site_shop", ["shop.example.test"], "/etc/nginx/tls/site_shop.crt"),
        ("acme_site_api", ["api.example.org"], "/etc/nginx/tls/site_api.crt")]
    # A self-signed placeholder serves each until its first issuance.
    assert [pair["name"] for pair in http["tls_pairs"]] == ["shop", "api", "catch_all"]


def test_the_single_site_acme_certificate_keeps_the_roles_paths():
    site_vars = dict(SITE_VARS, load_balancer_tls={"mode": "acme", "domains": ["lb.example.test"]})
    model = model_from_vars(copy.deepcopy(UPSTREAMS), [{"path": "/shop", "upstream": "shop"}], site_vars=site_vars)
    assert model_to_dict(model)["http"]["acme_certificates"] == [{
        "name": "", "stem": "acme", "domains": ["lb.example.test"], "cert_path": None, "key_path": None,
        "acme_directory": "https://acme-v02.api.letsencrypt.org/directory", "acme_email": "", "acme_ca_file": "",
        "renew_days": 30}]
