"""nginx_validate in check mode: `nginx -t` creates a log file that
does not exist yet, so a dry run points such a file of the candidate at a
temporary one. A fake runner stands for nginx and records what it was given."""

import os

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import check_candidate, redirect_new_logs
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate


class FakeNginx:
    """Records the candidate nginx -t would read; answers `rc` with `stderr`."""

    def __init__(self, rc=0, stderr=""):
        self.rc, self.stderr, self.candidates = rc, stderr, []

    def __call__(self, argv):
        if "-t" in argv:
            with open(os.path.join(os.path.dirname(argv[argv.index("-c") + 1]), "candidate.conf"), "rb") as handle:
                self.candidates.append(handle.read())
            return self.rc, "", self.stderr
        return 0, "", "nginx version: nginx/1.22.1"


def _snippet(log_line):
    return ("upstream a { server 127.0.0.1:7001; }\n"
            "server {\n    listen 8080;\n    %s\n    location /a { proxy_pass http://a; }\n}\n" % log_line)


def test_a_new_access_log_is_pointed_at_a_temporary_file(tmp_path):
    new_log = tmp_path / "lb.access.log"
    nginx = FakeNginx()
    result = check_candidate(_snippet("access_log %s edgeops buffer=64k;" % new_log), "nginx", runner=nginx,
                             check_mode=True)
    assert result.valid
    (seen,) = nginx.candidates
    assert str(new_log).encode() not in seen
    # Same line, same other arguments, a file in the throwaway directory.
    log_line = [line for line in seen.splitlines() if b"access_log" in line][0]
    assert log_line.startswith(b"    access_log /tmp/") and log_line.endswith(b"-lb.access.log edgeops buffer=64k;")
    assert len(seen.splitlines()) == len(_snippet("x").splitlines())


def test_a_real_run_checks_the_log_path_as_it_is(tmp_path):
    new_log = tmp_path / "lb.access.log"
    nginx = FakeNginx()
    check_candidate(_snippet("access_log %s;" % new_log), "nginx", runner=nginx, check_mode=False)
    assert ("access_log %s;" % new_log).encode() in nginx.candidates[0]


def test_existing_logs_and_missing_directories_are_left_to_nginx(tmp_path):
    existing = tmp_path / "old.log"
    existing.write_text("")
    nowhere = tmp_path / "no-such-dir" / "x.log"
    text = _snippet("access_log %s; error_log %s warn;" % (existing, nowhere)).encode()
    redirected, renamed = redirect_new_logs(text, str(tmp_path / "work"))
    # An existing file is only opened for appending; in a missing directory
    # nginx -t fails as a real run would and creates nothing.
    assert redirected == text and renamed == {}


def test_error_log_and_quoted_paths_are_redirected_too(tmp_path):
    text = _snippet("error_log \"%s\" warn; access_log off;" % (tmp_path / "e.log")).encode()
    redirected, renamed = redirect_new_logs(text, "/work")
    assert list(renamed.values()) == [str(tmp_path / "e.log")]
    assert b'error_log "/work/log0-e.log" warn; access_log off;' in redirected


def test_variables_syslog_and_stderr_are_not_files(tmp_path):
    text = _snippet("access_log %s/$host.log; access_log syslog:server=unix:/dev/log; error_log stderr;"
                    % tmp_path).encode()
    assert redirect_new_logs(text, "/work") == (text, {})


def test_a_path_not_on_its_directive_line_stops_nginx_t(tmp_path):
    """A path written over a line break cannot be replaced in place: rather
    than let nginx -t create it, the dry run does not run nginx -t."""
    text = _snippet("access_log\n        %s;" % (tmp_path / "lb.log"))
    nginx = FakeNginx()
    assert check_candidate(text, "nginx", runner=nginx, check_mode=True) is None
    assert nginx.candidates == []
    report = validate("nginx", nginx, content=text, check_mode=True)
    assert report.valid is None and report.failure("error") is None
    assert [u["name"] for u in report.as_result()["upstreams"]] == ["a"]


def test_nginx_messages_name_the_real_log_path(tmp_path):
    """What nginx says about the temporary file is shown with the path the user wrote."""
    new_log = tmp_path / "lb.log"

    class Refusing(FakeNginx):
        def __call__(self, argv):
            if "-t" in argv:
                seen = open(os.path.join(os.path.dirname(argv[argv.index("-c") + 1]), "candidate.conf")).read()
                temporary = seen.split("access_log ", 1)[1].split(";", 1)[0]
                return 1, "", 'nginx: [emerg] open() "%s" failed (13: Permission denied)' % temporary
            return super().__call__(argv)

    report = validate("nginx", Refusing(), content=_snippet("access_log %s;" % new_log), check_mode=True)
    assert report.valid is False
    assert report.errors[0]["message"] == 'open() "%s" failed (13: Permission denied)' % new_log
