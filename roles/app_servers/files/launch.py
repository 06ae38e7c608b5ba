"""Start the program of the release this file sits in, for one port.

The unit runs `python3 INSTALL_DIR/current/launch.py PORT [SETTING...]`.
`current` links to `releases/VERSION`, which holds the program and
`release.json` ({"version": ..., "command": [...], "settings": bool,
"allow": {"item": ..., "value": ...}}), both written by the app_servers
role. So what runs - program, command and version label - is all in the
release: a rollback is a switch of the link and a restart.

Each item of the command is one argument (no shell); the placeholders
{port}, {bind}, {version}, {health_path}, {release} and {python} in it are
replaced by this port, the bind address (APP_SERVER_BIND), the label, the
health path (APP_SERVER_HEALTH_PATH), the release directory and this
Python. The items and what they expand to are checked against the anchored
allow-lists of release.json's "allow" (the ones the role checked the command
with before; this is the last gate).
With "settings": true the SETTING arguments the unit passes (the tutorial
app's latency and limits) are appended. The program gets APP_SERVER_PORT,
APP_SERVER_VERSION and APP_SERVER_HEALTH_PATH in its environment too.
"""

import json
import os
import re
import sys

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class LaunchError(Exception):
    pass


def allow_lists(release):
    """release.json's allow-lists (item, value), compiled; anchored or refused."""
    allow = release.get("allow")
    patterns = [allow.get(name) for name in ("item", "value")] if isinstance(allow, dict) else [None, None]
    if not all(isinstance(p, str) and p.startswith("\\A") and p.endswith("\\Z") for p in patterns):
        raise LaunchError("release.json: allow must give the anchored patterns item and value")
    return [re.compile(p) for p in patterns]


def command(release_dir, release, port, environ, settings):
    """The argv to execute: release.json's command with the placeholders replaced."""
    item_re, value_re = allow_lists(release)
    items = release.get("command")
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise LaunchError("release.json: command must be a non-empty list of strings")
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise LaunchError("port must be 1-65535, got %r" % (port,))
    values = {"port": str(int(port)), "bind": environ.get("APP_SERVER_BIND", "127.0.0.1"),
              "version": str(release.get("version", "")),
              "health_path": environ.get("APP_SERVER_HEALTH_PATH", "/healthz"),
              "release": release_dir, "python": sys.executable}
    for name, value in values.items():
        if not value_re.match(value):
            raise LaunchError("%s %r is not allowed" % (name, value))
    argv = []
    for item in items:
        if not item_re.match(item):
            raise LaunchError("release.json: command item %r is not allowed" % item)
        argv.append(PLACEHOLDER.sub(lambda m: values[m.group(1)], item))
    if not os.path.isabs(argv[0]):
        raise LaunchError("release.json: the program %r is not an absolute path (start it with {release}/)" % argv[0])
    for setting in settings if release.get("settings") else []:
        if not item_re.match(setting) or "{" in setting:
            raise LaunchError("setting %r is not allowed" % setting)
        argv.append(setting)
    return argv, {"APP_SERVER_PORT": values["port"], "APP_SERVER_VERSION": values["version"],
                  "APP_SERVER_HEALTH_PATH": values["health_path"]}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: launch.py PORT [SETTING...]\n")
        return 2
    release_dir = os.path.dirname(os.path.realpath(__file__))
    try:
        with open(os.path.join(release_dir, "release.json"), encoding="utf-8") as handle:
            release = json.load(handle)
        program, extra_env = command(release_dir, release, argv[0], os.environ, argv[1:])
    except (OSError, ValueError, LaunchError) as exc:
        sys.stderr.write("launch.py: %s\n" % exc)
        return 2
    environ = dict(os.environ, **extra_env)
    os.execve(program[0], program, environ)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main())
