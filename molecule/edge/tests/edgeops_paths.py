"""Where the edge scenario's prepare put pebble's CA, on the controller."""

import os

PEBBLE_CA = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"), "pebble", "ca.pem")
