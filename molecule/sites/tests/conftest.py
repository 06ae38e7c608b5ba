"""lbcheck (molecule/shared) and tests/helpers are on sys.path by the
checkout's pytest.ini (`pythonpath`); this suite records figures."""

# The figures plugin: its fixture and its hook, for this suite.
from helpers.figures import figure, pytest_terminal_summary  # noqa: F401 pylint: disable=unused-import
