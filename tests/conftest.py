"""For every tier under tests/: run the tests in another order on request,
to prove that no test depends on another's order or leftovers.

  PYTEST_ORDER=reverse        the collected order, reversed
  PYTEST_ORDER=shuffle:SEED   shuffled with random.Random(SEED)

`make unit PYTEST_ORDER=reverse` and `make functional PYTEST_ORDER=shuffle:7`
pass the variable through the environment."""

import os
import random

import pytest


def pytest_collection_modifyitems(config, items):
    order = os.environ.get("PYTEST_ORDER", "")
    if not order:
        return
    if order == "reverse":
        items.reverse()
    elif order.startswith("shuffle:"):
        random.Random(order.split(":", 1)[1]).shuffle(items)
    else:
        raise pytest.UsageError("PYTEST_ORDER must be 'reverse' or 'shuffle:SEED', got %r" % order)
    config.pluginmanager.get_plugin("terminalreporter").write_line("test order: %s" % order)
