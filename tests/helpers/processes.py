"""Helpers of the functional tier: the collection's modules run as Ansible
runs them, a child process each (tests/functional only)."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers.localnet import free_port, wait_for_port
from helpers.paths import COLLECTION_LINK, COLLECTIONS, ROLES

APP_SERVER = ROLES / "app_servers" / "files" / "app_server.py"


def run_module(name, args, timeout=60):
    """Run the collection's module `name` as Ansible would (JSON args on stdin); its result."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    path = COLLECTION_LINK / "plugins" / "modules" / (name + ".py")
    proc = subprocess.run([sys.executable, str(path)], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          check=False, capture_output=True, text=True, env=env, timeout=timeout)
    return json.loads(proc.stdout)


def start_app_server(*extra):
    """The app server program on a free loopback port, as the unit runs it: (process, port)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(APP_SERVER), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait_for_port(port):
        proc.kill()
        raise AssertionError("app server did not listen on %d" % port)
    return proc, port


class AppServerProcess:
    """The app server program (`program`) on a free loopback port; its stderr
    goes to a file (a pipe nobody reads could block it); stop() by its PID."""

    def __init__(self, *extra, program=APP_SERVER):
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, str(program), "--port", str(self.port), *extra],
                                     stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        if not wait_for_port(self.port):
            self.stop()
            raise AssertionError("app server did not listen on %d" % self.port)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as status:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", status.read(), re.M).group(1))

    def stderr(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def load_app_server():
    """The role's own app server program, as a module (its servers run in-process)."""
    spec = importlib.util.spec_from_file_location("app_server", APP_SERVER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCAL_PLAY = """
- name: %(name)s
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
%(tasks)s"""


def run_local_playbook(tmp_path, name, tasks, variables, timeout=180):
    """ansible-playbook of one play on localhost: `tasks` (YAML, indented
    four spaces), `variables` as extra vars (they win over task vars);
    the CompletedProcess."""
    playbook, varfile = tmp_path / "play.yml", tmp_path / "vars.json"
    playbook.write_text(LOCAL_PLAY % {"name": name, "tasks": tasks})
    varfile.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(playbook),
                           "-e", "@%s" % varfile], check=False, capture_output=True, text=True, env=env,
                          cwd=COLLECTION_LINK, timeout=timeout)
