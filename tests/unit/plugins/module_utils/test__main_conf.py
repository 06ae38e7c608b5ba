"""nginx.conf's role variables: the role's defaults pass, every wrong value
is refused naming its variable, nothing unchecked reaches the template."""

import copy

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._main_conf import MAIN_VARS, MainConfError, main_conf

from helpers.paths import role_defaults


def defaults():
    values = role_defaults()
    return copy.deepcopy({name: values[name] for name in MAIN_VARS})


def errors_of(**changes):
    values = defaults()
    values.update(changes)
    with pytest.raises(MainConfError) as caught:
        main_conf(values)
    return caught.value.errors


def test_the_defaults_hold_10000_clients_and_give_mozilla_intermediate():
    words = main_conf(defaults())
    assert words["worker_processes"] == "auto"
    assert int(words["worker_connections"]) >= 2 * 10000
    assert int(words["worker_rlimit_nofile"]) >= 2 * int(words["worker_connections"])
    assert int(words["limit_nofile"]) >= int(words["worker_rlimit_nofile"])
    assert words["ssl_protocols"] == "TLSv1.2 TLSv1.3"
    assert words["server_tokens"] == "off"
    assert words["ssl_session_cache"] == "shared:SSL:10m"
    assert all(name.startswith("ECDHE-") for name in words["ssl_ciphers"].split(":"))


@pytest.mark.parametrize("var, value, words", [
    ("load_balancer_worker_processes", "many", "'auto' or an integer 1-1024"),
    ("load_balancer_worker_processes", 0, "'auto' or an integer 1-1024"),
    ("load_balancer_worker_processes", "auto;\nuser root", "'auto' or an integer"),
    ("load_balancer_worker_connections", 100, "512-1048576"),
    ("load_balancer_worker_connections", "20480; user root", "must be an integer"),
    ("load_balancer_worker_connections", True, "must be an integer"),
    ("load_balancer_worker_rlimit_nofile", 1024, "at least twice load_balancer_worker_connections (40960)"),
    ("load_balancer_worker_rlimit_nofile", 10 ** 9, "1024-1048576"),
    ("load_balancer_limit_nofile", 2048, "at least load_balancer_worker_rlimit_nofile (40960)"),
    ("load_balancer_worker_shutdown_timeout", "forever", "nginx time"),
    ("load_balancer_worker_shutdown_timeout", "500ms", "nginx time"),
    ("load_balancer_worker_shutdown_timeout", "30s;\nuser root", "nginx time"),
    ("load_balancer_worker_shutdown_timeout", "1y", "1-86400 seconds"),
    ("load_balancer_server_tokens", "maybe", "boolean"),
    ("load_balancer_ssl_protocols", ["TLSv1", "TLSv1.2"], "TLSv1.2 and TLSv1.3"),
    ("load_balancer_ssl_protocols", ["TLSv1.1"], "TLSv1.2 and TLSv1.3"),
    ("load_balancer_ssl_protocols", [], "non-empty"),
    ("load_balancer_ssl_protocols", "TLSv1.2 TLSv1.3", "list"),
    ("load_balancer_ssl_protocols", ["TLSv1.2", "TLSv1.2"], "distinct"),
    ("load_balancer_ssl_ciphers", "HIGH:!aNULL", "cipher names joined"),
    ("load_balancer_ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256; ssl_protocols TLSv1", "cipher names joined"),
    ("load_balancer_ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256\n", "cipher names joined"),
    ("load_balancer_ssl_ciphers", "ECDHE-RSA-AES128-GCM-SHA256:RC4-SHA", "weak ciphers are refused: RC4-SHA"),
    ("load_balancer_ssl_ciphers", "DES-CBC3-SHA", "weak ciphers are refused"),
    ("load_balancer_ssl_ciphers", "NULL-SHA256", "weak ciphers are refused"),
    ("load_balancer_ssl_session_cache", "builtin", "shared:NAME:SIZE"),
    ("load_balancer_ssl_session_cache", "shared:SSL:10m; include /x", "shared:NAME:SIZE"),
    ("load_balancer_ssl_session_timeout", "10", "60-604800 seconds"),
    ("load_balancer_ssl_session_timeout", "1d\n", "nginx time"),
])
def test_a_wrong_value_is_refused_naming_its_variable(var, value, words):
    errors = errors_of(**{var: value})
    assert any(error.startswith(var + ": ") and words in error for error in errors), errors


def test_every_wrong_variable_is_named_at_once():
    errors = errors_of(load_balancer_worker_connections=1, load_balancer_ssl_session_cache="x")
    assert [e.split(":")[0] for e in errors] == ["load_balancer_worker_connections", "load_balancer_ssl_session_cache"]


def test_unknown_and_missing_variables_are_named():
    values = defaults()
    del values["load_balancer_ssl_ciphers"]
    values["load_balancer_worker_procs"] = 2
    with pytest.raises(MainConfError) as caught:
        main_conf(values)
    assert caught.value.errors == ["load_balancer_worker_procs: not a main configuration variable",
                                   "load_balancer_ssl_ciphers: missing"]
