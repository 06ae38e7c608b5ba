#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_info
short_description: Several read-only questions to a host in one module run
version_added: 0.3.0
author: edgeops engineers (@edgeops)
description:
  - Answers, in one run on the host, what the roles of this collection would otherwise ask in one module run
    each - which packages the package database lists, the version the package manager would install of a package,
    a user's and a group's entries, the entries of some directories, the content of small state files, systemd's
    services matching a pattern, the nginx version.
  - Changes nothing. Only what is asked is answered.
options:
  package_manager:
    description:
      - The package database to ask about I(packages) - C(dpkg) (C(dpkg-query --show)) - and about I(candidates)
        (with C(dpkg), apt's C(apt-cache policy)); without it, neither is asked about.
    type: str
    choices: [dpkg]
  packages:
    description:
      - The packages to ask I(package_manager) about, given to its query after C(--) (never taken for an option).
      - Letters, digits and C(_ . + ~ * -) and C(:) (an architecture), starting with a letter or digit.
    type: list
    elements: str
    default: []
  candidates:
    description:
      - Packages whose installation candidate (the version the package manager would install now) to return in
        C(candidates) - with I(package_manager=dpkg) what C(apt-cache policy) calls C(Candidate), read in the C
        locale; without I(package_manager) they are not asked about.
      - Given to the query after C(--) (never taken for an option); the same names as I(packages).
      - The package lists as they are on the host - nothing is downloaded (no C(apt-get update)).
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  user:
    description: A user whose passwd entry to return (C(user), null when there is none).
    type: str
  group:
    description: A group whose entry to return (C(group), null when there is none).
    type: str
  directories:
    description: Directories whose entries (not recursive) to list in C(files); a missing one has none.
    type: list
    elements: path
    default: []
  read:
    description:
      - Small text files (at most 1 MiB) whose content to return in C(content); null for a missing one.
      - Each must be a regular file (or a link to one); a FIFO, a device or a directory is refused, never read.
    type: list
    elements: path
    default: []
  units:
    description:
      - A systemd unit name or glob; C(systemctl list-units --all --plain --no-legend --type=service --) on it.
      - Letters, digits and C(_ . @ * -) and C(:), not starting with C(-) (never taken for an option).
    type: str
  nginx:
    description: Return the version of the host's nginx (C(nginx -v)), null when nginx is not installed.
    type: bool
    default: false
  deadline:
    description:
      - Seconds the commands of the run may take together (more than 0, at most 3600); a command still running
        then is killed with what it started, and the task fails naming it.
    type: float
    default: 60
attributes:
  check_mode:
    description: Reads only, in check mode as in a normal run.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
  platform:
    support: full
    description: POSIX hosts; I(units) needs systemd.
    platforms: posix
seealso:
  - module: edgeops.nginx_lb.host_files
  - module: ansible.builtin.package_facts
  - module: ansible.builtin.find
"""

EXAMPLES = r"""
- name: Ask what the app server role needs to know, in one run
  edgeops.nginx_lb.host_info:
    package_manager: dpkg
    packages: [python3, python3-apt]
    user: app-server
    group: app-server
    directories: [/opt/edgeops/releases, /etc/edgeops]
    units: app-server@*.service
  register: app_host

- name: Ask which nginx the host has, and which one it would install
  edgeops.nginx_lb.host_info:
    package_manager: dpkg
    candidates: [nginx]
    nginx: true
  register: lb_host
"""

RETURN = r"""
packages:
  description: Each package asked about (and each match of a glob) and its installed version, null when it is not
    installed.
  returned: when I(package_manager) and I(packages) are given
  type: dict
  sample: {"python3": "3.11.2-1+b1", "python3-apt": null}
candidates:
  description:
    - Each package of I(candidates) (and each match of a glob) and the version the package manager would install
      (Debian's C(1.22.1-9+deb12u12), epoch and revision included); null when it knows no version to install (an
      unknown package, or none in its lists).
  returned: when I(package_manager) and I(candidates) are given
  type: dict
  sample: {"nginx": "1.22.1-9+deb12u12", "edgeops-no-such-package": null}
  version_added: 0.3.0
user:
  description: The user's C(name), C(uid), C(group) (its primary group's name), C(home) and C(shell); null if none.
  returned: when I(user) is given
  type: dict
group:
  description: The group's C(name) and C(gid); null if none.
  returned: when I(group) is given
  type: dict
files:
  description: The entries of I(directories), as M(ansible.builtin.find) reports them (C(path), C(isdir), C(islnk),
    C(isreg), C(ctime), C(mtime)).
  returned: when I(directories) are given
  type: list
  elements: dict
content:
  description: Path to text (null for a missing file).
  returned: when I(read) is given
  type: dict
units:
  description:
    - The services matching I(units), as C(systemctl list-units) lists them - C(name), C(load), C(active), C(sub),
      C(description), and of a template's instance (C(NAME@INSTANCE.service)) C(template) and C(instance) (else
      null).
  returned: when I(units) is given
  type: list
  elements: dict
  sample: [{"name": "app-server@7001.service", "load": "loaded", "active": "active", "sub": "running",
            "description": "app server on port 7001", "template": "app-server", "instance": "7001"}]
nginx_version:
  description: The version C(nginx -v) printed; null when nginx is not installed.
  returned: when I(nginx) is true
  type: str
  sample: 1.22.1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_info import gather
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import Deadline, run_until


def main():
    module = AnsibleModule(
        argument_spec=dict(
            package_manager=dict(type="str", choices=["dpkg"]),
            packages=dict(type="list", elements="str", default=[]),
            candidates=dict(type="list", elements="str", default=[]),
            user=dict(type="str"),
            group=dict(type="str"),
            directories=dict(type="list", elements="path", default=[]),
            read=dict(type="list", elements="path", default=[]),
            units=dict(type="str"),
            nginx=dict(type="bool", default=False),
            deadline=dict(type="float", default=60),
        ),
        supports_check_mode=True,
    )
    params = module.params
    nginx = None
    if params["nginx"]:
        nginx = module.get_bin_path("nginx", opt_dirs=["/usr/sbin", "/usr/local/sbin"]) or ""
    try:
        deadline = Deadline(params["deadline"])
        answers = gather(lambda argv, env=None: run_until(deadline, argv, env), package_manager=params["package_manager"],
                         packages=params["packages"], user=params["user"], group=params["group"],
                         directories=params["directories"], read=params["read"], units=params["units"], nginx=nginx,
                         candidates=params["candidates"])
    except (ValueError, OSError) as exc:
        # A file or directory the host refuses to read is an answer the role cannot use: say which.
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **answers)


if __name__ == "__main__":
    main()
