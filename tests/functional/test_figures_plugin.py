"""tests/helpers/figures.py, the plugin every functional, integration and
molecule suite imports as `from helpers.figures import figure,
pytest_terminal_summary`: figures of passing and failing tests reach the
summary, with that import and nothing else, in pytest's own process (the
molecule verifiers) as from pytest-xdist's workers (whose reports carry them;
make functional runs two). Functional: the workers are child processes."""

import pytest

pytest_plugins = "pytester"

SUITE = '''
import pytest

def test_passes(figure):
    figure("answered", 10000)
    figure("by version", {"1": 3})

def test_fails(figure):
    figure("before the failure", 7)
    assert False

def test_records_nothing():
    pass
'''


IMPORT = "from helpers.figures import figure, pytest_terminal_summary  # noqa: F401"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-workers"])
def test_figures_of_passing_and_failing_tests_reach_the_summary(pytester, workers):
    pytester.makeconftest(IMPORT)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=2, failed=1)
    summary = result.stdout.str().split("measured figures", 1)[1].splitlines()[1:4]
    # Workers finish tests in any order: compare sorted.
    assert sorted(" | ".join(line.split(None, 1)) for line in summary) == [
        "test_fails | before the failure: 7", "test_passes | answered: 10000", "test_passes | by version: {'1': 3}"]


def test_a_run_without_figures_prints_no_section(pytester):
    pytester.makeconftest(IMPORT)
    pytester.makepyfile(test_suite="def test_records_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "measured figures" not in result.stdout.str()
