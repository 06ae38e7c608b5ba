"""validate(): nginx -t's verdict (from a stand-in runner here) joined with
what the parser and the lint find."""

import re

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import read_source, validate

from helpers.not_regular import NOT_REGULAR, fail_after


def test_validate_reports_an_include_loop_as_a_finding(tmp_path):
    """nginx -t said yes (a runner that says so), the parser meets a loop: a finding, no traceback."""
    main = tmp_path / "nginx.conf"
    main.write_text("http { include nginx.conf; }\n")
    report = validate("nginx", lambda argv: (0, "", ""), path=str(main), lint_model=False)
    assert report.valid is True
    assert [f["severity"] for f in report.findings] == ["warning"]
    assert "include loop" in report.findings[0]["message"]


class Runner:
    """nginx -t says yes; every argv is kept."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv):
        self.calls.append(argv)
        return 0, "", ""


@pytest.mark.parametrize("path", ["-t", "-c/etc/nginx/nginx.conf", "relative/nginx.conf", "nginx.conf",
                                  "/etc/nginx/nginx.conf\n", "/etc/nginx/ngi nx.conf", "/etc/nginx/a;b.conf", ""])
@pytest.mark.parametrize("kind, content", [("conf.d", None), ("main", "events { }\n")])
def test_a_path_that_could_reach_nginx_as_an_option_is_refused(path, kind, content):
    runner = Runner()
    with pytest.raises(ValueError, match=r"\Apath: must be an absolute path of letters, digits and \. _ ~ / -, got "):
        validate("nginx", runner, path=path, content=content, kind=kind, lint_model=False)
    assert runner.calls == []


@pytest.mark.parametrize("missing", ["nope", "nope/deeper"])
def test_a_main_candidate_for_a_missing_directory_is_named(tmp_path, missing):
    runner = Runner()
    path = tmp_path / missing / "nginx.conf"
    with pytest.raises(ValueError, match=r"\Apath: the directory %s does not exist \(a main candidate is tested beside"
                       % re.escape(str(path.parent))):
        validate("nginx", runner, path=str(path), content="events { }\n", kind="main", lint_model=False)
    assert runner.calls == []


@pytest.mark.parametrize("make, kind", NOT_REGULAR)
def test_a_live_path_or_a_src_that_is_no_regular_file_is_refused_unread(tmp_path, make, kind):
    path = str(tmp_path / "nginx.conf")
    make(path)
    runner = Runner()
    with fail_after(5):
        with pytest.raises(ValueError, match=r"\Apath: %s is %s, not a regular file\Z" % (re.escape(path), kind)):
            validate("nginx", runner, path=path, lint_model=False)
        with pytest.raises(ValueError, match=r"\Asrc: %s is %s, not a regular file\Z" % (re.escape(path), kind)):
            read_source(path)
    assert runner.calls == []


def test_a_missing_src_is_named_and_a_missing_live_path_left_to_nginx(tmp_path):
    with pytest.raises(ValueError, match=r"\Asrc: cannot read %s: No such file or directory\Z"
                       % re.escape(str(tmp_path / "candidate.conf"))):
        read_source(str(tmp_path / "candidate.conf"))
    runner = Runner()
    validate("nginx", runner, path=str(tmp_path / "nginx.conf"), lint_model=False)
    assert runner.calls[0] == ["nginx", "-t", "-c", str(tmp_path / "nginx.conf")]
