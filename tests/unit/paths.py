"""Where things are in the checkout, for the unit tests."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
SEED_UPSTREAM_CONF = Path(__file__).resolve().parent / "data" / "tutorial_upstream.conf"

COLLECTIONS = ROOT / ".collections"


def collections_path():
    """A collections path on which edgeops.nginx_lb is this checkout (as `make venv` links it)."""
    link = COLLECTIONS / "ansible_collections" / "edgeops" / "nginx_lb"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT, target_is_directory=True)
    return COLLECTIONS


def run_module(name, args, timeout=60):
    """Run the collection's module `name` as Ansible would (JSON args on stdin); its result."""
    env = dict(os.environ, PYTHONPATH=str(collections_path()))
    path = collections_path() / "ansible_collections/edgeops/nginx_lb/plugins/modules" / (name + ".py")
    proc = subprocess.run([sys.executable, str(path)], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          check=False, capture_output=True, text=True, env=env, timeout=timeout)
    return json.loads(proc.stdout)


def role_defaults(role="load_balancer"):
    import yaml  # only the tests that read role defaults need it
    with open(ROLES / role / "defaults" / "main.yml") as handle:
        return yaml.safe_load(handle)


def tutorial_vars():
    """Fresh copies of the load_balancer role's default upstreams and locations (the tutorial's)."""
    import copy
    defaults = role_defaults()
    return copy.deepcopy(defaults["load_balancer_upstreams"]), copy.deepcopy(defaults["load_balancer_locations"])


def default_site_vars():
    """The load_balancer role's defaults for the server block, by variable name."""
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import SITE_VARS
    defaults = role_defaults()
    return {name: defaults[name] for name in SITE_VARS}
