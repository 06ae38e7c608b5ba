"""plugins/module_utils/_host_info.py: read-only answers in one module run
(commands are a fake runner here: the unit tier starts no process)."""

import os
import re

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _host_info
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_info import READ_MAX_BYTES, gather

from helpers.not_regular import NOT_REGULAR, fail_after

DPKG = ["dpkg-query", "--show", "--showformat", "${Package}\t${db:Status-Abbrev}\t${Version}\n"]


class Runner:
    def __init__(self, answers):
        self.answers, self.calls, self.envs = answers, [], []

    def __call__(self, argv, env=None):
        self.calls.append(argv)
        self.envs.append(env)
        return self.answers[argv[0]]


def test_only_what_is_asked_is_answered_and_nothing_runs_otherwise():
    runner = Runner({})
    assert gather(runner) == {}
    assert runner.calls == []


def test_packages_units_and_nginx_version_in_one_call(monkeypatch):
    runner = Runner({
        "dpkg-query": (1, "python3\tii \t3.11.2-1+b1\n", "dpkg-query: no packages found matching python3-apt\n"),
        "systemctl": (0, "app-server@7001.service loaded active running x\n", ""),
        "/usr/sbin/nginx": (0, "", "nginx version: nginx/1.22.1\n"),
    })
    answers = gather(runner, package_manager="dpkg", packages=["python3", "python3-apt"],
                     units="app-server@*.service", nginx="/usr/sbin/nginx")
    assert answers["packages"] == {"python3": "3.11.2-1+b1", "python3-apt": None}
    assert answers["units"] == [{"name": "app-server@7001.service", "load": "loaded", "active": "active",
                                 "sub": "running", "description": "x", "template": "app-server", "instance": "7001"}]
    assert answers["nginx_version"] == "1.22.1"
    assert runner.calls[0] == DPKG + ["--", "python3", "python3-apt"]
    assert runner.calls[1][-2:] == ["--", "app-server@*.service"]


def test_nginx_not_installed_is_none():
    assert gather(Runner({}), nginx="") == {"nginx_version": None}


@pytest.mark.parametrize("kwargs, runner_answers, message", [
    ({"package_manager": "dpkg", "packages": ["x"]}, {"dpkg-query": (2, "", "broken database")},
     "package query dpkg-query failed (rc 2): broken database"),
    ({"units": "app-server@*.service; reboot"}, {}, "units: must be a unit name or glob"),
    ({"units": "x.service"}, {"systemctl": (1, "", "Failed to connect to bus")}, "systemctl list-units failed"),
    ({"user": "Root"}, {}, "user: 'Root' is not a user or group name"),
    ({"group": "a b"}, {}, "group: 'a b' is not a user or group name"),
])
def test_failures_name_what_failed(kwargs, runner_answers, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        gather(Runner(runner_answers), **kwargs)


def test_user_and_group_entries(monkeypatch):
    import grp
    import pwd
    monkeypatch.setattr(pwd, "getpwnam", lambda name: pwd.struct_passwd(
        ("app-server", "x", 999, 998, "", "/nonexistent", "/usr/sbin/nologin")))
    monkeypatch.setattr(grp, "getgrgid", lambda gid: grp.struct_group(("app-server", "x", gid, [])))

    def no_group(name):
        raise KeyError(name)

    monkeypatch.setattr(grp, "getgrnam", no_group)
    answers = gather(Runner({}), user="app-server", group="app-server")
    assert answers["user"] == {"name": "app-server", "uid": 999, "group": "app-server", "home": "/nonexistent",
                               "shell": "/usr/sbin/nologin"}
    assert answers["group"] is None


def test_directories_are_listed_like_find(tmp_path):
    (tmp_path / "releases/1").mkdir(parents=True)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/7001.env").write_text("x")
    os.symlink(str(tmp_path / "releases/1"), str(tmp_path / "releases/current"))
    files = gather(Runner({}), directories=[str(tmp_path / "releases"), str(tmp_path / "conf"),
                                            str(tmp_path / "missing")])["files"]
    by_path = {f["path"]: f for f in files}
    assert set(by_path) == {str(tmp_path / "releases/1"), str(tmp_path / "releases/current"),
                            str(tmp_path / "conf/7001.env")}
    assert by_path[str(tmp_path / "releases/1")]["isdir"] is True
    assert by_path[str(tmp_path / "releases/current")]["islnk"] is True
    settings = by_path[str(tmp_path / "conf/7001.env")]
    assert settings["isreg"] is True and settings["ctime"] > 0


def test_read_returns_text_or_none_and_refuses_a_large_file(tmp_path):
    state = tmp_path / "upstream_state.json"
    state.write_text('{"roundrobin": {}}\n')
    answers = gather(Runner({}), read=[str(state), str(tmp_path / "none.json")])
    assert answers["content"] == {str(state): '{"roundrobin": {}}\n', str(tmp_path / "none.json"): None}
    state.write_bytes(b"x" * (READ_MAX_BYTES + 1))
    with pytest.raises(ValueError, match="larger than"):
        gather(Runner({}), read=[str(state)])


@pytest.mark.parametrize("stderr, version", [
    ("nginx version: nginx/1.22.1\n", "1.22.1"),
    ("nginx version: nginx/1.27.3 (Ubuntu)\n", "1.27.3"),
    ("nginx version: openresty/1.21.4.1\n", None),
    ("", None),
])
def test_nginx_version(stderr, version):
    assert _host_info.nginx_version(stderr) == version


@pytest.mark.parametrize("kwargs, field", [
    ({"units": "-H"}, "units"),
    ({"units": "-Hroot@attacker.example"}, "units"),
    ({"units": "--host=attacker.example"}, "units"),
    ({"units": "-"}, "units"),
    ({"units": "app-server@*.service\n"}, "units"),
    ({"units": ""}, "units"),
    ({"package_manager": "dpkg", "packages": ["-oDir=/tmp"]}, "packages[0]"),
    ({"package_manager": "dpkg", "packages": ["python3", "--admindir=/tmp"]}, "packages[1]"),
    ({"package_manager": "dpkg", "packages": ["python3\n"]}, "packages[0]"),
    ({"package_manager": "dpkg", "packages": ["python3; reboot"]}, "packages[0]"),
    ({"user": "root\n"}, "user"),
    ({"group": "root\n"}, "group"),
])
def test_a_value_that_could_be_an_option_is_refused_before_any_command(kwargs, field):
    runner = Runner({"dpkg-query": (0, "", ""), "systemctl": (0, "", "")})
    with pytest.raises(ValueError, match=r"\A%s: " % re.escape(field)):
        gather(runner, nginx="/usr/sbin/nginx", **kwargs)
    assert runner.calls == []


@pytest.mark.parametrize("kwargs, argv_tail", [
    ({"units": "*.service"}, ["--", "*.service"]),
    ({"units": "app-server@7001.service"}, ["--", "app-server@7001.service"]),
    ({"package_manager": "dpkg", "packages": ["libc6:amd64", "g++", "python3-apt"]},
     ["--", "libc6:amd64", "g++", "python3-apt"]),
])
def test_values_reach_the_command_after_its_end_of_options(kwargs, argv_tail):
    runner = Runner({"dpkg-query": (0, "", ""), "systemctl": (0, "", "")})
    gather(runner, **kwargs)
    assert runner.calls[0][-len(argv_tail):] == argv_tail


@pytest.mark.parametrize("make, kind", NOT_REGULAR)
def test_read_refuses_what_is_not_a_regular_file_without_blocking(tmp_path, make, kind):
    state = tmp_path / "upstream_state.json"
    make(state)
    words = r"\Aread\[1\]: %s is %s, not a regular file" % (re.escape(str(state)), kind)
    with fail_after(5), pytest.raises(ValueError, match=words):
        gather(Runner({}), read=[str(tmp_path / "missing"), str(state)])


@pytest.mark.parametrize("field", ["directories", "read"])
@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff"])
def test_a_path_that_stands_for_no_byte_is_refused_naming_it(tmp_path, field, surrogate):
    runner = Runner({})
    words = r"\A%s\[1\]: %s at \d+ stands for no byte" % (field, re.escape(repr(surrogate)))
    with pytest.raises(ValueError, match=words):
        gather(runner, nginx="/usr/sbin/nginx", **{field: [str(tmp_path), str(tmp_path) + surrogate]})
    assert runner.calls == []


@pytest.mark.parametrize("stdout, packages, versions", [
    # Installed (ii), held (hi), removed with its configuration left (rc), unknown (no line).
    ("nginx\tii \t1.22.1-9\nkeepalived\thi \t1:2.2.7-1\n", ["nginx", "keepalived"],
     {"nginx": "1.22.1-9", "keepalived": "1:2.2.7-1"}),
    ("nginx\trc \t1.22.1-9\n", ["nginx", "python3"], {"nginx": None, "python3": None}),
    # An architecture qualifier: dpkg prints the bare name.
    ("libc6\tii \t2.36-9\n", ["libc6:amd64"], {"libc6:amd64": "2.36-9"}),
    # A glob: each match under its own name.
    ("libnginx-mod-stream\tii \t1.22.1-9\nlibnginx-mod-http-geoip\tun \t\n", ["libnginx-mod-*"],
     {"libnginx-mod-stream": "1.22.1-9", "libnginx-mod-http-geoip": None}),
    # dpkg's complaints on stdout and a line of another shape are no package.
    ("garbage\n\n", ["nginx"], {"nginx": None}),
])
def test_dpkg_answers_become_versions_by_name(stdout, packages, versions):
    assert _host_info.parse_dpkg(stdout, packages) == versions


@pytest.mark.parametrize("line, fields", [
    ("app-server@7001.service loaded active running edgeops app server on port 7001",
     {"name": "app-server@7001.service", "load": "loaded", "active": "active", "sub": "running",
      "description": "edgeops app server on port 7001", "template": "app-server", "instance": "7001"}),
    ("app-server@7002.service not-found inactive dead app-server@7002.service",
     {"name": "app-server@7002.service", "load": "not-found", "active": "inactive", "sub": "dead",
      "description": "app-server@7002.service", "template": "app-server", "instance": "7002"}),
    ("nginx.service loaded failed failed",
     {"name": "nginx.service", "load": "loaded", "active": "failed", "sub": "failed", "description": "",
      "template": None, "instance": None}),
])
def test_unit_lines_become_fields(line, fields):
    assert _host_info.parse_units(line + "\n") == [fields]
    assert _host_info.parse_units("\n" + line + "\n" + "short line\n") == [fields]


def test_an_unknown_package_manager_is_refused_before_any_command():
    runner = Runner({})
    with pytest.raises(ValueError, match="package_manager: one of dpkg is required"):
        gather(runner, package_manager="apt-get", packages=["nginx"])
    assert runner.calls == []


# apt-cache policy on Debian 12 (nginx installed, a newer one from security,
# an arch-qualified name) and on a fresh host (nothing installed).
POLICY_INSTALLED = """nginx:
  Installed: 1.22.1-9+deb12u9
  Candidate: 1.22.1-9+deb12u12
  Version table:
     1.22.1-9+deb12u12 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 1.22.1-9+deb12u9 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
"""
POLICY_FRESH = """nginx:
  Installed: (none)
  Candidate: 1:1.30.6-1
  Version table:
     1:1.30.6-1 500
        500 http://deb.debian.org/debian forky/main amd64 Packages
libnginx-mod-stream:
  Installed: (none)
  Candidate: (none)
  Version table:
"""


@pytest.mark.parametrize("stdout, packages, candidates", [
    (POLICY_INSTALLED, ["nginx"], {"nginx": "1.22.1-9+deb12u12"}),
    # (none): apt knows the package but has no version to install; unknown: no block at all.
    (POLICY_FRESH, ["nginx", "libnginx-mod-stream", "edgeops-no-such-package"],
     {"nginx": "1:1.30.6-1", "libnginx-mod-stream": None, "edgeops-no-such-package": None}),
    # An architecture qualifier: apt prints the bare name for the native one, the whole for another.
    (POLICY_INSTALLED, ["nginx:amd64"], {"nginx:amd64": "1.22.1-9+deb12u12"}),
    ("libc6:i386:\n  Installed: (none)\n  Candidate: 2.36-9\n", ["libc6:i386"], {"libc6:i386": "2.36-9"}),
    # A glob: each match under its own name.
    (POLICY_FRESH, ["nginx*", "libnginx-mod-*"], {"nginx": "1:1.30.6-1", "libnginx-mod-stream": None}),
    # Garbage, a candidate line outside any block, an empty candidate, nothing: no version.
    ("garbage\n\n", ["nginx"], {"nginx": None}),
    ("  Candidate: 1.22.1-9\nnginx:\n  Installed: (none)\n", ["nginx"], {"nginx": None}),
    ("nginx:\n  Candidate:\n", ["nginx"], {"nginx": None}),
    ("nginx:\n  Candidate 1.22.1-9\n  Version table: 1.22.1-9\n", ["nginx"], {"nginx": None}),
    ("", ["nginx"], {"nginx": None}),
    # A block of another package does not answer for the one asked.
    ("nginx-light:\n  Candidate: 1.22.1-9\n", ["nginx"], {"nginx": None, "nginx-light": "1.22.1-9"}),
])
def test_apt_policy_answers_become_candidates_by_name(stdout, packages, candidates):
    assert _host_info.parse_apt_policy(stdout, packages) == candidates


def test_candidates_are_asked_after_the_end_of_options_in_the_c_locale():
    runner = Runner({"apt-cache": (0, POLICY_FRESH, "")})
    answers = gather(runner, package_manager="dpkg", candidates=["nginx", "libnginx-mod-stream"])
    assert answers == {"candidates": {"nginx": "1:1.30.6-1", "libnginx-mod-stream": None}}
    assert runner.calls == [["apt-cache", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "policy", "--",
                             "nginx", "libnginx-mod-stream"]]
    # apt translates "Candidate:": the labels are read in the C locale.
    assert runner.envs[0]["LC_ALL"] == "C"


def test_candidates_and_packages_in_one_run():
    runner = Runner({"dpkg-query": (1, "", "dpkg-query: no packages found matching nginx\n"),
                     "apt-cache": (0, POLICY_INSTALLED, ""), "/usr/sbin/nginx": (0, "", "")})
    answers = gather(runner, package_manager="dpkg", packages=["nginx"], candidates=["nginx"], nginx="")
    assert answers == {"packages": {"nginx": None}, "candidates": {"nginx": "1.22.1-9+deb12u12"},
                       "nginx_version": None}
    assert [argv[0] for argv in runner.calls] == ["dpkg-query", "apt-cache"]


def test_candidates_without_a_package_manager_are_not_asked():
    runner = Runner({})
    assert gather(runner, candidates=["nginx"]) == {}
    assert runner.calls == []


def test_a_failed_candidate_query_is_named():
    runner = Runner({"apt-cache": (100, "", "E: Could not open file /var/lib/apt/lists/x - open (13)\n")})
    with pytest.raises(ValueError, match=r"\Acandidate query apt-cache policy failed \(rc 100\): E: Could not open"):
        gather(runner, package_manager="dpkg", candidates=["nginx"])


@pytest.mark.parametrize("candidates, field", [
    (["-x"], "candidates[0]"),
    (["-oDir::State::Lists=/tmp"], "candidates[0]"),
    (["nginx", "--config-file=/tmp/apt.conf"], "candidates[1]"),
    (["nginx", "-"], "candidates[1]"),
    (["nginx\n"], "candidates[0]"),
    (["nginx; reboot"], "candidates[0]"),
    ([""], "candidates[0]"),
    ([7], "candidates[0]"),
])
def test_a_candidate_that_could_be_an_option_is_refused_before_any_command(candidates, field):
    runner = Runner({"apt-cache": (0, "", ""), "dpkg-query": (0, "", "")})
    with pytest.raises(ValueError, match=r"\A%s: must be a package name" % re.escape(field)):
        gather(runner, package_manager="dpkg", packages=["nginx"], candidates=candidates, nginx="/usr/sbin/nginx")
    assert runner.calls == []
