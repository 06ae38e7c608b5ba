"""A pytest plugin: tests record the figures they measured with the `figure`
fixture, and the run prints them all at the end, pass or fail, so CI logs
carry the numbers (cases tried, requests under reload, exposure score...)."""

import pytest

_FIGURES = []


@pytest.fixture
def figure(request):
    """figure("what", value) records one measured figure of this test."""
    def record(name, value):
        _FIGURES.append((request.node.name, name, value))
    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("measured figures")
    for test, name, value in _FIGURES:
        terminalreporter.write_line("%-40s %s: %s" % (test[:40], name, value))
