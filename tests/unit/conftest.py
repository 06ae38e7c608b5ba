"""Make `ansible_collections.edgeops.nginx_lb` importable from the checkout;
print the figures the tests measured."""

import os
import sys

from paths import collections_path

sys.path.insert(0, str(collections_path()))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# The figures plugin: its fixture and its hook, for this suite.
from figures import figure, pytest_terminal_summary  # noqa: E402,F401 pylint: disable=unused-import
