"""Where things are in the checkout, and the role defaults the tests start from.

Nothing here changes the checkout: the collection path
(`.collections/ansible_collections/edgeops/nginx_lb` -> the checkout) is made
once by `make venv`; pytest.ini puts `.collections` on sys.path."""

import copy
import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
SEED_UPSTREAM_CONF = ROOT / "tests" / "unit" / "data" / "tutorial_upstream.conf"
COLLECTIONS = ROOT / ".collections"
COLLECTION_LINK = COLLECTIONS / "ansible_collections" / "edgeops" / "nginx_lb"


@functools.lru_cache(maxsize=None)
def _parsed_defaults(role):
    with open(ROLES / role / "defaults" / "main.yml") as handle:
        return yaml.safe_load(handle)


def role_defaults(role="load_balancer"):
    """A fresh copy of the role's defaults/main.yml (parsed once per run: the
    fuzz tests ask for it in every case, and YAML parsing was most of their time)."""
    return copy.deepcopy(_parsed_defaults(role))


def tutorial_vars():
    """Fresh copies of the load_balancer role's default upstreams and locations (the tutorial's)."""
    defaults = role_defaults()
    return copy.deepcopy(defaults["load_balancer_upstreams"]), copy.deepcopy(defaults["load_balancer_locations"])


def default_site_vars():
    """The load_balancer role's defaults for the server block, by variable name."""
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import SITE_VARS
    defaults = role_defaults()
    return {name: defaults[name] for name in SITE_VARS}
