"""The two roles meet through one published value (app_servers_endpoints):
a later play on the same host with other ports changes what the LB renders."""

import os
import subprocess
import sys
from pathlib import Path

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse

from helpers.paths import COLLECTIONS, ROOT

BIN = Path(sys.executable).parent
HERE = Path(__file__).parent


def test_the_lb_follows_the_last_publication(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: %s\n"
        "  children:\n    app: {hosts: {localhost: {}}}\n    lb: {hosts: {localhost: {}}}\n" % sys.executable)
    out = tmp_path / "upstream.conf"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(HERE / "render_from_group.yml"),
                           "-e", "out=%s" % out], check=False, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    model = model_from_config(parse(out.read_text(), "upstream.conf"))
    assert [s.address for s in model.upstream("pool").servers] == ["127.0.0.1:8001", "127.0.0.1:8002"]
