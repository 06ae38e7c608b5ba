"""The lb_model filter: hostvars' published endpoints in, the model out, every error at once."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.filter.app_endpoints import app_endpoints
from ansible_collections.edgeops.nginx_lb.plugins.filter.lb_model import lb_model

HOSTVARS = {
    "app1": {"app_servers_endpoints": app_endpoints([7001, 7002], "0.0.0.0", 3, default_ipv4="172.20.0.2"),
             # The role's inputs are not read: only the published value is.
             "app_servers_ports": [9999], "app_servers_weight": 1},
    "app2": {"app_servers_endpoints": app_endpoints([7001], "127.0.0.1", 1)},
    "app3": {"app_servers_weight": "abc"},
}


def test_filter_reads_only_the_published_value():
    model = lb_model([{"name": "pool", "group": "app"}], [{"path": "/", "upstream": "pool"}],
                     groups={"app": ["app1"]}, hostvars=HOSTVARS, lb_host="lb")
    assert [(s["address"], s["weight"]) for s in model["upstreams"][0]["servers"]] == \
        [("172.20.0.2:7001", 3), ("172.20.0.2:7002", 3)]


def test_filter_reports_all_errors_naming_each_field():
    with pytest.raises(AnsibleFilterError) as caught:
        lb_model([{"name": "pool", "group": "app"}], [{"path": "/", "upstream": "nope"}],
                 groups={"app": ["app2", "app3"]}, hostvars=HOSTVARS, lb_host="lb")
    message = str(caught.value)
    assert "load_balancer_upstreams[0].group: host app2 binds its app servers to 127.0.0.1:7001" in message
    assert "load_balancer_upstreams[0].group: host app3 has published no app_servers_endpoints" in message
    assert "load_balancer_locations[0].upstream" in message


def test_a_later_publication_changes_what_the_lb_renders():
    """A second play on the same host with other ports republishes; the LB follows."""
    hostvars = {"app1": {"app_servers_endpoints": app_endpoints([7001], "10.0.0.1", 1)}}
    first = lb_model([{"name": "p", "group": "app"}], [], groups={"app": ["app1"]}, hostvars=hostvars, lb_host="lb")
    hostvars["app1"]["app_servers_endpoints"] = app_endpoints([8001, 8002], "10.0.0.1", 1)
    second = lb_model([{"name": "p", "group": "app"}], [], groups={"app": ["app1"]}, hostvars=hostvars, lb_host="lb")
    assert [s["address"] for s in first["upstreams"][0]["servers"]] == ["10.0.0.1:7001"]
    assert [s["address"] for s in second["upstreams"][0]["servers"]] == ["10.0.0.1:8001", "10.0.0.1:8002"]


@pytest.mark.parametrize("weight", ["abc", "--5", 0, 1001])
def test_app_endpoints_names_the_variable(weight):
    with pytest.raises(AnsibleFilterError, match="app_servers_weight"):
        app_endpoints([7001], "127.0.0.1", weight)


def test_filter_applies_the_state_file_and_records_its_inputs():
    model = lb_model([{"name": "pool", "group": "app"}], [{"path": "/", "upstream": "pool"}],
                     groups={"app": ["app1"]}, hostvars=HOSTVARS, lb_host="lb", keepalive=16,
                     overrides='{"upstreams": {"pool": {"172.20.0.2:7002": {"state": "drained", "weight": 9}}}}')
    assert [(s["address"], s["weight"], s["down"]) for s in model["upstreams"][0]["servers"]] == \
        [("172.20.0.2:7001", 3, False), ("172.20.0.2:7002", 9, True)]
    record = model["record"]
    assert record["hosts"] == {"app1": ["172.20.0.2:7001", "172.20.0.2:7002"]}
    assert record["upstreams"] == [{"name": "pool", "servers": [{"address": "172.20.0.2:7001", "weight": 3},
                                                                {"address": "172.20.0.2:7002", "weight": 3}]}]
    assert record["keepalive"] == 16 and record["zone"] is None


def test_filter_names_a_state_file_that_is_not_json():
    with pytest.raises(AnsibleFilterError, match="upstream_state.json: not JSON"):
        lb_model([{"name": "pool", "servers": [{"address": "10.0.0.1:1"}]}], [], overrides="{nope")


DYN = [{"name": "dyn", "servers": [{"address": "dyn.edgeops.test:7001", "resolve": True}]}]
RESOLVER = {"addresses": ["127.0.0.53"], "valid": "", "ipv6": False, "timeout": ""}


@pytest.mark.parametrize("version", ["1.22.1", "1.26.3"])
def test_resolve_on_an_older_nginx_is_named_with_the_host_s_version(version):
    with pytest.raises(AnsibleFilterError) as caught:
        lb_model(DYN, [{"path": "/dyn", "upstream": "dyn"}], resolver=RESOLVER, nginx_version=version)
    assert str(caught.value) == ("invalid load balancer input:\n  - load_balancer_upstreams[0].servers[0].resolve: "
                                 "needs nginx >= 1.27.3 (upstream servers re-resolved by DNS), this host has %s"
                                 % version)


@pytest.mark.parametrize("version", ["1.30.6", None, ""])
def test_resolve_renders_where_nginx_has_it_and_is_recorded(version):
    model = lb_model(DYN, [{"path": "/dyn", "upstream": "dyn"}], zone="64k", resolver=RESOLVER, nginx_version=version)
    assert model["upstreams"][0]["resolver_args"] == ["127.0.0.53", "ipv6=off"]
    # Both are recorded, so upstream_server renders for the same nginx (the role builds the model
    # again once a first run has installed nginx: tasks/model.yml).
    assert (model["record"]["resolver"], model["record"]["nginx_version"]) == (RESOLVER, version or None)


STICKY = [{"name": "sticky", "sticky": {"cookie": "srv"}, "servers": [{"address": "127.0.0.1:7001"}]}]
STICKY_LOCATIONS = [{"path": "/sticky", "upstream": "sticky"}]


@pytest.mark.parametrize("nginx_version", [None, ""])
@pytest.mark.parametrize("candidate, shown", [
    ("1.22.1-9+deb12u12", "1.22.1"),  # Debian 12
    ("1.26.3-3+deb13u1", "1.26.3"),  # Debian 13
    ("1:1.29.5-1", "1.29.5"),  # an epoch
])
def test_without_nginx_a_feature_the_candidate_lacks_is_named(nginx_version, candidate, shown):
    with pytest.raises(AnsibleFilterError) as caught:
        lb_model(STICKY, STICKY_LOCATIONS, nginx_version=nginx_version, nginx_candidate=candidate)
    assert str(caught.value) == ("invalid load balancer input:\n  - load_balancer_upstreams[0].sticky: needs nginx "
                                 ">= 1.29.6 (sticky cookie sessions), this host would install %s" % shown)


def test_the_installed_version_wins_over_the_candidate():
    # An installed 1.30.6 has sticky whatever apt would install now; the record keeps 1.30.6.
    model = lb_model(STICKY, STICKY_LOCATIONS, zone="64k", nginx_version="1.30.6", nginx_candidate="1.22.1-9")
    assert model["record"]["nginx_version"] == "1.30.6"
    with pytest.raises(AnsibleFilterError, match="sticky: needs nginx >= 1.29.6 .*, this host has 1.22.1\\Z"):
        lb_model(STICKY, STICKY_LOCATIONS, nginx_version="1.22.1", nginx_candidate="1:1.30.6-1")


@pytest.mark.parametrize("candidate, recorded", [
    ("1:1.30.6-1", "1.30.6"),  # the version the model was built for
    (None, None),
    ("", None),
    ("(none)", None),
    ("garbage", None),  # unknown, as without a candidate: the host's nginx -t judges
])
def test_the_candidate_s_version_is_used_and_recorded(candidate, recorded):
    model = lb_model(STICKY, STICKY_LOCATIONS, zone="64k", nginx_candidate=candidate)
    assert model["record"]["nginx_version"] == recorded
    assert "nginx_candidate" not in model and "nginx_version" not in model
    # Written for the candidate: 1.29.7's upstream keepalive default turned off (`keepalive 0`) on a
    # known 1.30.6, no line where the version is unknown.
    assert model["upstreams"][0]["keepalive_args"] == (["keepalive", "0"] if recorded else None)
