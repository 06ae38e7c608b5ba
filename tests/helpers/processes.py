"""Helpers of the functional tier: the collection's modules run as Ansible
runs them, a child process each (tests/functional only)."""

import json
import os
import subprocess
import sys

from helpers.paths import COLLECTION_LINK, COLLECTIONS


def run_module(name, args, timeout=60):
    """Run the collection's module `name` as Ansible would (JSON args on stdin); its result."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    path = COLLECTION_LINK / "plugins" / "modules" / (name + ".py")
    proc = subprocess.run([sys.executable, str(path)], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          check=False, capture_output=True, text=True, env=env, timeout=timeout)
    return json.loads(proc.stdout)
