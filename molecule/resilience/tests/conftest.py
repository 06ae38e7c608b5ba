import os
import sys

# The shared helpers live beside the shared playbooks; the figures plugin in tests/.
HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests"))

# The figures plugin: its fixture and its hook, for this suite.
from figures import figure, pytest_terminal_summary  # noqa: E402,F401 pylint: disable=unused-import
