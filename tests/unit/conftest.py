"""Make `ansible_collections.edgeops.nginx_lb` importable from the checkout."""

import sys

from paths import collections_path

sys.path.insert(0, str(collections_path()))
