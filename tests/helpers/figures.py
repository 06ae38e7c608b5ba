"""A pytest plugin: tests record the figures they measured with the `figure`
fixture, and the run prints them all at the end, pass or fail, so CI logs
carry the numbers (cases tried, requests under reload, exposure score...).
A figure travels in the test's report (user_properties), so the figures of
tests that ran in pytest-xdist's workers reach the summary too."""

import pytest

_KEY = "figure"


@pytest.fixture
def figure(request):
    """figure("what", value) records one measured figure of this test."""
    def record(name, value):
        request.node.user_properties.append((_KEY, (name, str(value))))
    return record


def pytest_terminal_summary(terminalreporter):
    # Each test's teardown report carries all its figures, once.
    figures = [(report.nodeid.rsplit("::", 1)[-1],) + tuple(value)
               for reports in terminalreporter.stats.values() for report in reports
               if getattr(report, "when", None) == "teardown"
               for key, value in getattr(report, "user_properties", ()) if key == _KEY]
    if not figures:
        return
    terminalreporter.section("measured figures")
    for test, name, value in figures:
        terminalreporter.write_line("%-40s %s: %s" % (test[:40], name, value))
