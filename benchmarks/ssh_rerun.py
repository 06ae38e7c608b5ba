#!/usr/bin/env python3
"""`make bench-ssh`: the idempotent re-run of playbooks/site.yml over SSH, with
the collection's host_files/host_info and with Ansible's own modules, in one run.

One systemd container (edgeops-ssh-bench-1) with sshd; the controller reaches
it by SSH with ControlPersist and pipelining on, the way users run the
collection. After a first converge, the re-run alternates, round by round:
  modules   the collection as it is (host_files, host_info)
  builtin   the same roles with host_files/host_info replaced, in a throw-away
            overlay of the collection, by action plugins
            (benchmarks/ssh_rerun_builtin/) that run what a role written
            with copy/file/command/getent/find/slurp would run, one module
            run per file or question
Every re-run must change nothing. The container is removed at the end (also
on failure or Ctrl-C). Writes benchmarks/results/ssh_rerun.json and .md.

  benchmarks/ssh_rerun.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
CONTAINER = "edgeops-ssh-bench-1"
IMAGE = "edgeops-lab/debian-systemd:bookworm"
HOST_MODULES = ("edgeops.nginx_lb.host_files", "edgeops.nginx_lb.host_info")


def sh(argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600, **kwargs).stdout


def start_host(work):
    """The container with sshd and a key of this run; its address."""
    sh([str(ROOT / "scripts" / "systemd-container.sh"), CONTAINER, IMAGE])
    sh(["docker", "exec", CONTAINER, "sh", "-c",
        "command -v sshd >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive"
        " apt-get install -y -qq openssh-server >/dev/null); systemctl enable --now ssh"])
    key = work / "id_ed25519"
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    sh(["docker", "exec", "-i", CONTAINER, "sh", "-c",
        "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys"], input=(work / "id_ed25519.pub").read_text())
    address = sh(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  CONTAINER]).strip()
    return address, key


def write_inventory(work, address, key):
    """inventory/lab.yml's hosts and variables, reached by SSH instead of the Docker API."""
    lab = yaml.safe_load((ROOT / "inventory" / "lab.yml").read_text())
    variables = dict(lab["all"]["vars"])
    variables.pop("ansible_connection")
    variables.update(ansible_host=address, ansible_user="root", ansible_ssh_private_key_file=str(key),
                     ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    name = "edgeops-ssh-bench"
    inventory = {"all": {"children": {"lb": {"hosts": {name: None}}, "app": {"hosts": {name: None}}},
                         "vars": variables}}
    path = work / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def builtin_overlay(work):
    """A collection path where edgeops.nginx_lb is this checkout with the two
    benchmark action plugins standing in for host_files and host_info."""
    top = work / "builtin" / "ansible_collections" / "edgeops" / "nginx_lb"
    (top / "plugins" / "action").mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("plugins", ".collections", ".venv", ".git"):
            (top / entry.name).symlink_to(entry)
    for entry in (ROOT / "plugins").iterdir():
        if entry.name != "action":
            (top / "plugins" / entry.name).symlink_to(entry)
    for entry in list((ROOT / "plugins" / "action").glob("*.py")) + list((HERE / "ssh_rerun_builtin").glob("*.py")):
        (top / "plugins" / "action" / entry.name).symlink_to(entry)
    return work / "builtin"


def converge(name, work, inventory, collections):
    timer_out = work / (name + ".json")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_PIPELINING="1",
               ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=60s",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(work / "cp"), ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="bench_timer", BENCH_TIMER_OUT=str(timer_out))
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks" / "site.yml")],
                          capture_output=True, text=True, timeout=1200, env=env, cwd=ROOT)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %d):\n%s" % (name, proc.returncode, proc.stdout[-3000:]))
    tasks = json.loads(timer_out.read_text())["tasks"]
    return {"wall_s": round(wall, 2), "tasks": tasks,
            "changed": [task["name"] for task in tasks if task["changed"] and task["status"] != "skipped"],
            "file_and_info_s": round(sum(task["seconds"] for task in tasks if task["action"] in HOST_MODULES), 2)}


def summary(runs):
    walls = [run["wall_s"] for run in runs]
    return {"wall_s": walls, "median_wall_s": round(statistics.median(walls), 2),
            "median_file_and_info_s": round(statistics.median(run["file_and_info_s"] for run in runs), 2)}


def per_task(result):
    """(task name, module, {variant: median seconds}) of each host_files/host_info task."""
    rows = {}
    for name in ("modules", "builtin"):
        for run in result["variants"][name]["tasks"]:
            for task in run:
                if task["action"] in HOST_MODULES:
                    key = (task["name"].split(" : ", 1)[-1], task["action"])
                    rows.setdefault(key, {}).setdefault(name, []).append(task["seconds"])
    return [(task, action, {name: statistics.median(values) for name, values in times.items()})
            for (task, action), times in rows.items()]


def report(result):
    modules, builtin = result["variants"]["modules"], result["variants"]["builtin"]
    saved = builtin["median_wall_s"] - modules["median_wall_s"]
    result["saved_s"] = round(saved, 2)
    result["saved_share_of_builtin_rerun"] = round(saved / builtin["median_wall_s"], 3)
    result["rerun_ratio_builtin_over_modules"] = round(builtin["median_wall_s"] / modules["median_wall_s"], 3)
    lines = [
        "# Re-run of playbooks/site.yml over SSH: host_files/host_info vs Ansible's modules",
        "",
        "One systemd container (Debian 12), one host in both tiers, SSH with ControlPersist and pipelining;",
        "%d rounds after a first converge, the two variants alternating; every re-run changed nothing." % result["rounds"],
        "",
        "| variant | re-run wall (median) | runs | time in the file and host-question tasks |",
        "|---|---|---|---|",
    ]
    for name in ("modules", "builtin"):
        variant = result["variants"][name]
        lines.append("| %s | %.2f s | %s | %.2f s |" % (name, variant["median_wall_s"],
                                                        ", ".join("%.2f" % wall for wall in variant["wall_s"]),
                                                        variant["median_file_and_info_s"]))
    lines += ["", "builtin / modules: **%.2f x**; the modules save %.2f s, %.0f %% of the re-run with Ansible's modules."
              % (result["rerun_ratio_builtin_over_modules"], saved, 100 * result["saved_share_of_builtin_rerun"]), "",
              "Per task (median seconds over the rounds):", "",
              "| task | module | modules | builtin |", "|---|---|---|---|"]
    for task, action, times in per_task(result):
        lines.append("| %s | %s | %.2f | %.2f |" % (task, action.split(".")[-1], times["modules"], times["builtin"]))
    lines.append("")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ssh_rerun.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "ssh_rerun.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--report-only", action="store_true", help="rewrite ssh_rerun.md from ssh_rerun.json")
    options = parser.parse_args()
    if options.report_only:
        report(json.loads((RESULTS / "ssh_rerun.json").read_text()))
        return 0
    subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="edgeops-ssh-bench-"))
    try:
        address, key = start_host(work)
        inventory = write_inventory(work, address, key)
        collections = {"modules": ROOT / ".collections", "builtin": builtin_overlay(work)}
        first = converge("first", work, inventory, collections["modules"])
        runs = {"modules": [], "builtin": []}
        for round_ in range(options.rounds):
            for name in ("builtin", "modules") if round_ % 2 else ("modules", "builtin"):
                run = converge("%s-%d" % (name, round_), work, inventory, collections[name])
                if run["changed"]:
                    raise RuntimeError("the %s re-run changed %s" % (name, run["changed"]))
                runs[name].append(run)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        report({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rounds": options.rounds,
                "commit": commit.stdout.strip(),
                "first_converge_s": first["wall_s"],
                "variants": {name: dict(summary(items), tasks=[[task for task in run["tasks"]
                                                                if task["action"] in HOST_MODULES] for run in items])
                             for name, items in runs.items()}})
    finally:
        subprocess.run(["docker", "rm", "-f", CONTAINER], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
