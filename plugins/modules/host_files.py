#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_files
short_description: Several files, directories, links and removals in one module run
version_added: 0.3.0
author: edgeops engineers (@edgeops)
description:
  - Brings a list of paths to their state in one run on the host, in the order given - where a role would
    otherwise run a M(ansible.builtin.file), M(ansible.builtin.copy) or M(ansible.builtin.template) task
    per path, each one or two module runs.
  - What already matches (content, owner, group, mode, link target) is left alone; what differs is changed
    with the primitives M(ansible.builtin.copy) and M(ansible.builtin.file) use - a file is written to a
    temporary file in the same directory and moved over the old one by C(atomic_move), which keeps its SELinux
    context and attributes; owner, group and mode are set by C(set_owner_if_different) and its siblings.
  - I(content) is C(no_log) - it never comes back in the task's C(invocation) or reaches a log.
  - When a change on the host fails after the checks, the failure carries C(results) and C(changed_paths)
    of the entries already applied (they stay applied).
  - Every entry is checked before the first change (paths, names, modes, users and groups on the host,
    sources, the directory of each file and link), so bad input changes nothing.
  - I(files) or I(absent) must name at least one path.
  - The roles of this collection use it for their small files; for a tree of files or a large one, use
    M(ansible.builtin.copy).
options:
  files:
    description: The paths and what they should be, applied in this order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - Absolute path (no C(..) component).
          - The directory of a file or a link must exist or be listed before it with C(state=directory)
            (check mode assumes an earlier task creates it).
        type: path
        required: true
      state:
        description:
          - C(file) - a regular file with I(content) or the content of I(copy_from); without either, only the
            owner, group and mode of a file that must exist.
          - C(directory) - created with its missing parents when absent; each created parent gets the entry's
            I(owner), I(group) and I(mode), as with M(ansible.builtin.file).
          - C(link) - a symbolic link to I(src), replaced atomically when it points elsewhere.
          - C(absent) - removed (a directory with its content).
          - Default C(file) with I(content) or I(copy_from), C(link) with I(src).
        type: str
        choices: [file, directory, link, absent]
      content:
        description:
          - The file's text (at most 4 MiB).
          - Not logged; a diff shows it only for a file others may read.
          - As with every C(no_log) value, Ansible masks this text wherever it appears in the task's result, so a
            content of one short word masks that word in messages too.
        type: str
      copy_from:
        description:
          - A file on the host whose content the file gets.
          - It must be a regular file (or a link to one); a FIFO, a device or a directory is refused, never read.
        type: path
      force:
        description: With C(false), an existing file keeps its content (its owner, group and mode are still set).
        type: bool
        default: true
      backup:
        description:
          - Before a file's content is replaced, keep a copy beside it (C(PATH.PID.YYYY-MM-DD@HH:MM:SS~), as Ansible's
            C(backup) options do); its path is the entry's C(backup_file) in I(results).
        type: bool
        default: false
      src:
        description: The target of a link.
        type: str
      owner:
        description: User name or numeric id (0-4294967294; 4294967295 means "no change" to chown).
        type: str
      group:
        description: Group name or numeric id (0-4294967294; 4294967295 means "no change" to chown).
        type: str
      mode:
        description:
          - Octal mode as a quoted string, such as C('0644'); a new file without it gets C(0644).
          - An unquoted YAML number is refused (YAML reads C(0644) as the number 420).
        type: raw
  absent:
    description: Paths to remove (a directory with its content), after I(files); C(state=absent) entries in short.
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    description: Changes nothing and says what would change.
    support: full
  diff_mode:
    description:
      - A file given by I(content), up to 64 KiB of text and readable by others (its I(mode)), shows a unified
        diff of its content; other changes are named only (a key never shows).
    support: full
  platform:
    support: full
    description: POSIX hosts (owner and group by name from the host's user and group databases).
    platforms: posix
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Install a release and point current at it
  edgeops.nginx_lb.host_files:
    files:
      - {path: /opt/app/releases/2, state: directory, owner: root, group: root, mode: "0755"}
      - path: /opt/app/releases/2/launch.py
        content: "{{ lookup('ansible.builtin.file', 'launch.py', rstrip=false) }}"
        mode: "0644"
      - {path: /opt/app/current, src: releases/2}
      - {path: /opt/app/app_server.py, state: absent}
  register: app_files
  notify: Restart the app

- name: Serve a copy of a certificate that is kept elsewhere on the host
  edgeops.nginx_lb.host_files:
    files:
      - {path: /etc/nginx/tls/site.crt, copy_from: /etc/nginx/tls/selfsigned.crt, mode: "0644"}
"""

RETURN = r"""
changed_paths:
  description: The paths that changed (or would change in check mode), in the order given; on a failure, those
    of the entries applied before it.
  returned: always
  type: list
  elements: str
  sample: [/opt/app/releases/2, /opt/app/current]
results:
  description:
    - One per entry - C(path), C(state), C(changed) and C(changes) (created, content, mode, owner, group,
      target, removed); C(backup_file) when I(backup) kept a copy.
    - On a failure, one per entry applied before it.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/opt/app/current", "state": "link", "changed": true, "changes": ["target"]}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_files import apply, as_result, parse_entries


def main():
    module = AnsibleModule(
        argument_spec=dict(
            absent=dict(type="list", elements="path", default=[]),
            files=dict(type="list", elements="dict", default=[], options=dict(
                path=dict(type="path", required=True),
                state=dict(type="str", choices=["file", "directory", "link", "absent"]),
                # A program or a key: never back in the task's invocation or a log.
                content=dict(type="str", no_log=True),
                copy_from=dict(type="path"),
                force=dict(type="bool", default=True),
                backup=dict(type="bool", default=False),
                src=dict(type="str"),
                owner=dict(type="str"),
                group=dict(type="str"),
                # raw: a YAML integer such as 0644 must be refused, not read as decimal digits.
                mode=dict(type="raw"),
            )),
        ),
        supports_check_mode=True,
    )
    # Every failure names the entries already applied (they stay applied), also
    # one of AnsibleModule's setters, which fail through fail_json themselves.
    applied, fail_json = [], module.fail_json
    module.fail_json = lambda **result: fail_json(**dict(as_result(applied), **result))
    try:
        outcomes = apply(parse_entries(module.params["files"], module.params["absent"]), module, applied)
    except (ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**as_result(outcomes, with_diff=module._diff))


if __name__ == "__main__":
    main()
