#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_file
short_description: Put an nginx configuration file live, checked by the target's own nginx -t before and after
version_added: 0.3.0
author: edgeops engineers (@edgeops)
description:
  - The one way a file of the nginx configuration goes live in this collection (the C(edgeops.nginx_lb.load_balancer)
    role's upstream configuration, C(nginx.conf) and streams; C(edgeops.nginx_lb.upstream_server) uses the same code).
  - The candidate (I(content)) is checked alone with C(nginx -t) as M(edgeops.nginx_lb.nginx_validate) checks it
    (wrapped in an http context, a stream context after I(modules), or as a whole main file for I(kind=main)).
    When nginx refuses it, the task fails and I(dest) is not touched.
  - A changed candidate is then written to a temporary file beside I(dest) and renamed over it (owner, mode and
    SELinux context as Ansible's own file modules keep them), with a copy of the previous file beside it.
  - The whole configuration (I(nginx_conf)) is checked with the new file in place. When nginx refuses it, the
    previous file is put back byte for byte with its owner and mode (or the new file is removed when there was
    none) and the task fails with nginx's message.
  - Nothing is reloaded; a handler that reloads nginx after a change needs no further C(nginx -t).
options:
  dest:
    description:
      - The file to put live. An absolute path of letters, digits and C(. _ ~ / -).
      - It must be a regular file when it exists; a FIFO or a device is refused before anything changes.
    type: path
    required: true
  content:
    description: The new file's text.
    type: str
    required: true
  kind:
    description:
      - What I(content) is, as in M(edgeops.nginx_lb.nginx_validate). C(conf.d) - a snippet of the http context.
        C(main) - a whole main configuration; then I(dest) is the main file and should be I(nginx_conf).
        C(stream) - a top-level file holding a C(stream) block, checked after I(modules).
    type: str
    choices: [conf.d, main, stream]
    default: conf.d
  modules:
    description:
      - With I(kind=stream), include patterns that load nginx's dynamic modules as the live C(nginx.conf) does.
    type: list
    elements: str
    default: []
  nginx_conf:
    description: The main configuration file the whole check tests (C(nginx -t -c)) with the new file in place.
    type: path
    default: /etc/nginx/nginx.conf
  nginx_binary:
    description: The nginx executable.
    type: str
    default: nginx
  lint:
    description: Lint the load-balancer semantics on top of C(nginx -t), as M(edgeops.nginx_lb.nginx_validate) does.
    type: bool
    default: true
  fail_on:
    description: C(error) refuses a file nginx rejects or with a lint error; C(warning) also one with a lint warning.
    type: str
    choices: [error, warning]
    default: error
  deadline:
    description: Seconds each C(nginx -t) run (candidate, whole) may take, more than 0 and at most 3600.
    type: float
    default: 60
  backup:
    description:
      - Keep the copy of the previous file (named C(DEST.PID.YYYY-MM-DD@HH:MM:SS~), which no C(*.conf) include
        matches) after a successful change. Without it the copy is removed once the whole configuration passed.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    description:
      - The candidate is checked with C(nginx -t) as in a real run (a new log file of a conf.d candidate is pointed
        at a temporary file); nothing is written and the whole check is not run, C(msg) says what a real run would do.
      - When nginx is not installed yet the candidate check is skipped (C(candidate=null)) and C(msg) says so.
    support: full
  diff_mode:
    description: The previous and the new text of I(dest).
    support: full
  platform:
    support: full
    description: Targets with nginx installed.
    platforms: posix
notes:
  - A new file gets mode C(0644) unless I(mode) says otherwise; an existing file keeps its owner, mode and
    SELinux context unless I(owner), I(group), I(mode) or the SELinux options say otherwise.
seealso:
  - module: edgeops.nginx_lb.nginx_validate
  - module: edgeops.nginx_lb.upstream_server
"""

EXAMPLES = r"""
- name: Put the upstream configuration live
  edgeops.nginx_lb.nginx_file:
    dest: /etc/nginx/conf.d/upstream.conf
    content: "{{ lookup('ansible.builtin.template', 'upstream.conf.j2') }}"
    owner: root
    group: root
    mode: "0644"
  notify: Reload nginx

- name: Put a whole nginx.conf live
  edgeops.nginx_lb.nginx_file:
    dest: /etc/nginx/nginx.conf
    content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
    kind: main
"""

RETURN = r"""
path:
  description: I(dest).
  returned: always
  type: str
  sample: /etc/nginx/conf.d/upstream.conf
backup_file:
  description: The copy of the previous file, when I(backup) kept it (or when it could not be put back); else null.
  returned: always
  type: str
candidate:
  description:
    - The candidate check's result, in the shape of M(edgeops.nginx_lb.nginx_validate)'s (C(valid), C(errors),
      C(warnings_nginx), C(findings), C(upstreams), C(locations), C(streams), C(nginx_version)).
    - Null when it could not run (check mode, nginx not installed).
  returned: always
  type: dict
whole:
  description: The whole configuration's check, same shape as I(candidate); null when no file was written.
  returned: always
  type: dict
msg:
  description: What was done, or what a dry run would do.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._golive import go_live, nginx_checks
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import Deadline, encodable, run_until


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            content=dict(type="str", required=True),
            kind=dict(type="str", choices=["conf.d", "main", "stream"], default="conf.d"),
            modules=dict(type="list", elements="str", default=[]),
            nginx_conf=dict(type="path", default="/etc/nginx/nginx.conf"),
            nginx_binary=dict(type="str", default="nginx"),
            lint=dict(type="bool", default=True),
            fail_on=dict(type="str", choices=["error", "warning"], default="error"),
            deadline=dict(type="float", default=60),
            backup=dict(type="bool", default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    binary = module.get_bin_path(params["nginx_binary"], opt_dirs=["/usr/sbin", "/usr/local/sbin"])
    if binary is None and not module.check_mode:
        module.fail_json(msg="nginx binary %r not found on the target" % params["nginx_binary"])

    def runner(argv):
        return run_until(Deadline(params["deadline"]), argv)

    def set_attributes(path, changed):
        return module.set_fs_attributes_if_different(module.load_file_common_arguments(params, path=path), changed)

    try:
        dest = params["dest"]
        content = encodable("content", params["content"])
        check_candidate, check_whole = nginx_checks(binary, runner, dest, params["nginx_conf"], kind=params["kind"],
                                                    modules=params["modules"], lint=params["lint"],
                                                    check_mode=module.check_mode)
        result, failure = go_live(dest, content, check_candidate if binary else lambda content: None, check_whole,
                                  set_attributes=set_attributes, move=module.atomic_move, check_mode=module.check_mode,
                                  keep_backup=params["backup"], fail_on=params["fail_on"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    diff = result.pop("diff")
    if module._diff and result["changed"]:
        result["diff"] = diff
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
