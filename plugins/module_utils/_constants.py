# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names and limits that more than one plugin must agree on.

The Python code imports them from here. YAML cannot import: the roles'
defaults, their argument specs and the modules' DOCUMENTATION repeat some of
them literally, and tests/unit/test_constants.py checks that each copy
equals the value here.
"""

from __future__ import annotations

# Where the load_balancer role records its model's inputs (RECORD_FILE) and
# upstream_server keeps the drained/disabled/weight state (STATE_FILE); the
# default of load_balancer_state_dir and of upstream_server's state_dir.
DEFAULT_STATE_DIR = "/var/lib/edgeops_nginx_lb"
RECORD_FILE = "model_record.json"
# Per upstream, per server address, the state set by upstream_server and/or
# a weight, which outrank the role's variables.
STATE_FILE = "upstream_state.json"

# nginx's own bounds of a server's weight (`server ... weight=N`).
WEIGHT_RANGE = (1, 1000)
