"""Integration tests: the collection as users get it (built, installed from
the tarball), against one systemd container of our own, edgeops-it-lab.

Session fixtures, shared by all files so the run starts one container and
converges it once:
  galaxy     the tarball, built and installed into a fresh collections path;
             `galaxy.env` lets ansible-* see ONLY that path (plus the
             collections bundled in the venv's `ansible` package)
  lab        the container, port 80 published on 127.0.0.1:<free port>
  converged  edgeops.nginx_lb.site from the installed collection, run on it

Nothing here installs software: `make integration` provides the venv, the
Docker engine, the base image and chromium first.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import ARTIFACTS, BIN, IMAGE, LAB, REPORT_ON_HOST, ROOT, docker, free_port, play_results, run

# The figures plugin: its fixture and its hook, for this suite (tests/ is on
# sys.path by pytest.ini's `pythonpath`).
from helpers.figures import figure, pytest_terminal_summary  # noqa: F401 pylint: disable=unused-import


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# ------------------------------------------------------------ the tarball

@dataclass
class Galaxy:
    tarball: Path
    members: list
    collections: Path
    workdir: Path
    env: dict
    seconds: dict

    def ansible(self, tool, *args, timeout=600, check=True):
        """An ansible-* command that sees only the installed collection."""
        return run([BIN / tool, *args], timeout=timeout, check=check, env=self.env, cwd=self.workdir)


@pytest.fixture(scope="session")
def galaxy(tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build")
    collections = tmp_path_factory.mktemp("collections")
    workdir = tmp_path_factory.mktemp("work")
    # No ansible.cfg of the checkout (it points at .collections, the checkout
    # itself): an empty config in a directory of our own.
    (workdir / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\ninterpreter_python = auto_silent\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(workdir / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_ROLES_PATH=str(workdir / "roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCAL_TEMP=str(workdir / "tmp"), PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    seconds = {}
    built = run([BIN / "ansible-galaxy", "collection", "build", "--output-path", build_dir, ROOT], timeout=120,
                env=env, cwd=workdir)
    seconds["build"] = built.elapsed
    tarball, = build_dir.glob("edgeops-nginx_lb-*.tar.gz")
    members = run(["tar", "-tzf", tarball], timeout=30).stdout.split()
    installed = run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", collections, tarball],
                    timeout=120, env=env, cwd=workdir)
    seconds["install"] = installed.elapsed
    return Galaxy(tarball, members, collections, workdir, env, seconds)


# ------------------------------------------------------------ the container

@dataclass
class Lab:
    name: str
    port: int
    inventory: Path

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def sh(self, script, timeout=60, check=True):
        return docker("exec", self.name, "sh", "-c", script, timeout=timeout, check=check)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    if shutil.which("docker") is None or docker("info", check=False, timeout=30).returncode != 0:
        pytest.fail("no Docker engine: `make integration` starts one (scripts/setup-docker.sh)")
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.fail("no image %s: `make integration` builds it (scripts/base-image.sh bookworm)" % IMAGE)
    docker("rm", "-f", LAB, check=False)           # a leftover of an interrupted run of ours
    port = free_port()
    run([ROOT / "scripts/systemd-container.sh", LAB, IMAGE, "-p", "127.0.0.1:%d:80" % port], timeout=120)
    inventory = tmp_path_factory.mktemp("inventory") / "lab.yml"
    # inventory/lab.yml with our container's name.
    inventory.write_text((ROOT / "inventory/lab.yml").read_text().replace("edgeops-lab:", LAB + ":"))
    try:
        yield Lab(LAB, port, inventory)
    finally:
        docker("rm", "-f", LAB, check=False)


@dataclass
class Converge:
    tasks: dict
    stats: dict
    seconds: float


@pytest.fixture(scope="session")
def converged(galaxy, lab, artifacts):
    """edgeops.nginx_lb.site, from the installed collection, on the lab."""
    env = dict(galaxy.env, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    proc = run([BIN / "ansible-playbook", "-i", lab.inventory, "edgeops.nginx_lb.site",
                "-e", "nginx_lb_verify_report=%s" % REPORT_ON_HOST], timeout=600, check=False, env=env,
               cwd=galaxy.workdir)
    (artifacts / "site.json").write_text(proc.stdout)
    assert proc.returncode == 0, "site.yml failed (rc %d), see %s\n%s" % (
        proc.returncode, artifacts / "site.json", proc.stderr[-3000:])
    tasks, stats = play_results(proc.stdout)
    report = lab.sh("cat %s" % REPORT_ON_HOST, check=False)
    if report.returncode == 0:
        (artifacts / "distribution.html").write_text(report.stdout)
    return Converge(tasks, stats, proc.elapsed)
