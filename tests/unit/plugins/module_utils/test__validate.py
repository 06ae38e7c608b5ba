"""validate(): nginx -t's verdict (from a stand-in runner here) joined with
what the parser and the lint find."""

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate


def test_validate_reports_an_include_loop_as_a_finding(tmp_path):
    """nginx -t said yes (a runner that says so), the parser meets a loop: a finding, no traceback."""
    main = tmp_path / "nginx.conf"
    main.write_text("http { include nginx.conf; }\n")
    report = validate("nginx", lambda argv: (0, "", ""), path=str(main), lint_model=False)
    assert report.valid is True
    assert [f["severity"] for f in report.findings] == ["warning"]
    assert "include loop" in report.findings[0]["message"]
