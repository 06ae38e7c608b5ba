"""Helpers of the integration tests: bounded commands, docker, paths."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent            # the venv that runs pytest has ansible
IMAGE = "edgeops-lab/debian-systemd:bookworm"
LAB = "edgeops-it-lab"
ARTIFACTS = ROOT / ".artifacts"
# Written on the LB host by lb_verify's `report` during the converge.
REPORT_ON_HOST = "/root/distribution.html"


def run(argv, timeout, check=True, **kwargs):
    """Run a command, bounded in time; on failure (check) say what it printed."""
    started = time.monotonic()
    proc = subprocess.run([str(a) for a in argv], check=False, capture_output=True, text=True, timeout=timeout,
                          **kwargs)
    proc.elapsed = time.monotonic() - started
    if check and proc.returncode != 0:
        raise AssertionError("%s exited %d after %.1f s\n--- stdout (end)\n%s\n--- stderr (end)\n%s" % (
            " ".join(str(a) for a in argv), proc.returncode, proc.elapsed, proc.stdout[-6000:], proc.stderr[-3000:]))
    return proc


def docker(*args, timeout=60, check=True):
    return run(["docker", *args], timeout=timeout, check=check)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def play_results(stdout):
    """The ansible.posix.json callback's output -> {task name: {host: result}}, stats."""
    data = json.loads(stdout[stdout.index("{"):])
    tasks = {}
    for play in data["plays"]:
        for task in play["tasks"]:
            tasks.setdefault(task["task"]["name"], {}).update(task["hosts"])
    return tasks, data["stats"]
