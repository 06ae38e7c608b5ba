"""The release contract of the app_servers role: the preflight's allow-lists,
the launcher's (files/launch.py) and the tutorial app's are the same, and the
launcher expands a command into exactly the argv it checked."""

import importlib.util
import re

import pytest
import yaml

from helpers.paths import ROLES

FILES = ROLES / "app_servers" / "files"


def load(name):
    spec = importlib.util.spec_from_file_location("app_servers_" + name, FILES / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAUNCH = load("launch")
APP = load("app_server")


def preflight_patterns():
    with open(ROLES / "app_servers" / "tasks" / "preflight.yml") as handle:
        tasks = yaml.safe_load(handle)
    return {k: v for task in tasks for k, v in (task.get("vars") or {}).items() if k.endswith("_re")}


def test_the_role_the_launcher_and_the_app_share_their_allow_lists():
    patterns = preflight_patterns()
    assert patterns["app_servers_command_item_re"] == LAUNCH.ITEM.pattern
    assert patterns["app_servers_version_re"] == APP.VERSION_RE
    assert patterns["app_servers_health_path_re"] == APP.HEALTH_PATH_RE
    assert all(p.startswith(r"\A") and p.endswith(r"\Z") for p in (LAUNCH.ITEM.pattern, LAUNCH.VALUE.pattern))


def test_the_tutorial_command_passes_the_role_allow_list():
    command = yaml.safe_load((ROLES / "app_servers" / "vars" / "main.yml").read_text())["app_servers_tutorial_command"]
    item = re.compile(preflight_patterns()["app_servers_command_item_re"])
    assert all(item.match(word) for word in command)


ENV = {"APP_SERVER_BIND": "10.0.0.5", "APP_SERVER_HEALTH_PATH": "/ready"}


@pytest.mark.parametrize("command, settings, expected", [
    (["{release}/app", "--listen={bind}:{port}", "{version}"], [], ["/r/2/app", "--listen=10.0.0.5:7001", "v2"]),
    (["/usr/bin/app", "--health={health_path}"], ["--latency-ms=5"], ["/usr/bin/app", "--health=/ready"]),
    (["{python}", "{release}/a.py", "{port}"], [], [LAUNCH.sys.executable, "/r/2/a.py", "7001"]),
])
def test_command_expands_placeholders_only(command, settings, expected):
    argv, env = LAUNCH.command("/r/2", {"version": "v2", "command": command}, "7001", ENV, settings)
    assert argv == expected
    assert env == {"APP_SERVER_PORT": "7001", "APP_SERVER_VERSION": "v2", "APP_SERVER_HEALTH_PATH": "/ready"}


def test_settings_are_appended_for_the_tutorial_command_only():
    release = {"version": "1", "command": ["/a"], "settings": True}
    assert LAUNCH.command("/r", release, "7001", ENV, ["--max-body=0"])[0] == ["/a", "--max-body=0"]


@pytest.mark.parametrize("release, port, env, settings, message", [
    ({"command": ["/bin/sh", "-c", "id;id"]}, "7001", ENV, [], "command item 'id;id' is not allowed"),
    ({"command": ["/a", "$HOME"]}, "7001", ENV, [], "command item '$HOME' is not allowed"),
    ({"command": ["/a", "{nope}"]}, "7001", ENV, [], "command item '{nope}' is not allowed"),
    ({"command": ["a", "{port}"]}, "7001", ENV, [], "not an absolute path"),
    ({"command": []}, "7001", ENV, [], "non-empty list"),
    ({"command": "/a {port}"}, "7001", ENV, [], "non-empty list"),
    ({"command": ["/a"]}, "70x", ENV, [], "port must be"),
    ({"command": ["/a"]}, "0", ENV, [], "port must be"),
    ({"command": ["/a", "{bind}"]}, "7001", {"APP_SERVER_BIND": "1.2.3.4 --x"}, [], "bind"),
    ({"command": ["/a"], "version": "1\nX: y"}, "7001", ENV, [], "version"),
    ({"command": ["/a"], "settings": True}, "7001", ENV, ["--x={port}"], "setting '--x={port}' is not allowed"),
])
def test_command_refuses_what_is_not_allowed(release, port, env, settings, message):
    with pytest.raises(LAUNCH.LaunchError, match=re.escape(message)):
        LAUNCH.command("/r", release, port, env, settings)
