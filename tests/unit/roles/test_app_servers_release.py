"""The release contract of the app_servers role: the launcher
(files/launch.py) checks the command with the allow-lists the release
description gives it (the role's, from module_utils/_app_model.py), refuses a
description without them, and expands a command into exactly the argv it
checked."""

import importlib.util
import re

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._app_model import COMMAND_ITEM_RE, COMMAND_VALUE_RE
from helpers.paths import ROLES

FILES = ROLES / "app_servers" / "files"


def load(name):
    spec = importlib.util.spec_from_file_location("app_servers_" + name, FILES / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LAUNCH = load("launch")


ALLOW = {"item": COMMAND_ITEM_RE, "value": COMMAND_VALUE_RE}


def release(**fields):
    """A release description as the role writes it (release.yml): with the role's allow-lists."""
    return dict(fields, allow=ALLOW)


def test_the_tutorial_command_passes_the_role_allow_list():
    command = yaml.safe_load((ROLES / "app_servers" / "vars" / "main.yml").read_text())["app_servers_tutorial_command"]
    assert all(re.match(COMMAND_ITEM_RE, word) for word in command)


@pytest.mark.parametrize("allow", [None, {}, {"item": COMMAND_ITEM_RE}, {"item": ".*", "value": ".*"},
                                   {"item": COMMAND_ITEM_RE, "value": r"\A.*"}])
def test_a_release_without_anchored_allow_lists_is_refused(allow):
    with pytest.raises(LAUNCH.LaunchError, match="allow must give the anchored patterns"):
        LAUNCH.command("/r", {"command": ["/a"], "allow": allow}, "7001", ENV, [])


ENV = {"APP_SERVER_BIND": "10.0.0.5", "APP_SERVER_HEALTH_PATH": "/ready"}


@pytest.mark.parametrize("command, settings, expected", [
    (["{release}/app", "--listen={bind}:{port}", "{version}"], [], ["/r/2/app", "--listen=10.0.0.5:7001", "v2"]),
    (["/usr/bin/app", "--health={health_path}"], ["--latency-ms=5"], ["/usr/bin/app", "--health=/ready"]),
    (["{python}", "{release}/a.py", "{port}"], [], [LAUNCH.sys.executable, "/r/2/a.py", "7001"]),
])
def test_command_expands_placeholders_only(command, settings, expected):
    argv, env = LAUNCH.command("/r/2", release(version="v2", command=command), "7001", ENV, settings)
    assert argv == expected
    assert env == {"APP_SERVER_PORT": "7001", "APP_SERVER_VERSION": "v2", "APP_SERVER_HEALTH_PATH": "/ready"}


def test_settings_are_appended_for_the_tutorial_command_only():
    described = release(version="1", command=["/a"], settings=True)
    assert LAUNCH.command("/r", described, "7001", ENV, ["--max-body=0"])[0] == ["/a", "--max-body=0"]


@pytest.mark.parametrize("fields, port, env, settings, message", [
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
def test_command_refuses_what_is_not_allowed(fields, port, env, settings, message):
    with pytest.raises(LAUNCH.LaunchError, match=re.escape(message)):
        LAUNCH.command("/r", release(**fields), port, env, settings)
