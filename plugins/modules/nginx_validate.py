#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_validate
short_description: Validate an nginx configuration or a conf.d candidate with the target's own nginx -t
version_added: 0.1.0
author: edgeops engineers (@edgeops)
description:
  - Runs the target's C(nginx -t) on the live configuration (I(path)) or on a candidate conf.d snippet
    (I(src) on the target, or I(content)), which it wraps in a throwaway main config with an http context,
    so a snippet with C(upstream) blocks can be tested before it replaces the live file.
  - Returns nginx's messages as data (C(file), C(line), C(message)), never only a blob of stderr.
  - Reads the upstreams and locations it finds with the collection's nginx parser and lints the
    load-balancer semantics that C(nginx -t) accepts (undefined upstream, no usable server,
    duplicate server, C(backup) with a hashing method, prefix stripping that doubles slashes).
  - M(edgeops.nginx_lb.nginx_file) runs the same checks on a candidate and on the whole configuration when it puts
    a file live; the C(edgeops.nginx_lb.load_balancer) role checks with this module before it restarts nginx.
options:
  path:
    description:
      - Main configuration file to validate as nginx would load it.
      - Used when neither I(src) nor I(content) is given; then it must be a regular file when it exists (a FIFO
        or a device is refused, nginx -t would block on it).
      - With I(kind=main), the path the candidate is meant for; its directory must exist.
      - An absolute path of letters, digits and C(. _ ~ / -) (it reaches the command line).
    type: path
    default: /etc/nginx/nginx.conf
  src:
    description:
      - A candidate conf.d snippet (http context) on the target.
      - It must be a regular file (or a link to one); a FIFO, a device or a directory is refused, never read.
    type: path
  content:
    description: A candidate conf.d snippet (http context) as text.
    type: str
  name:
    description: Name shown for the candidate in messages (for example the path it is meant for).
    type: str
  kind:
    description:
      - What a candidate (I(src) or I(content)) is. C(conf.d) - a snippet of the http context, wrapped in a
        throwaway main config. C(main) - a whole main configuration meant to replace I(path); it is written
        next to I(path) under a hidden temporary name (so relative includes resolve as they will live), tested
        with C(nginx -t -c) and removed again; the live file is not touched.
      - C(stream) - a file of the top level holding a C(stream) block (TCP and UDP balancing); the throwaway main
        config includes I(modules) first, then the candidate.
    type: str
    choices: [conf.d, main, stream]
    default: conf.d
    version_added: 0.3.0
  modules:
    description:
      - With I(kind=stream), include patterns (absolute paths, C(*) allowed) that load nginx's dynamic modules,
        as the live nginx.conf does (Debian - C(/etc/nginx/modules-enabled/*.conf)), so the stream module is there.
    type: list
    elements: str
    default: []
    version_added: 0.3.0
  nginx_binary:
    description: The nginx executable.
    type: str
    default: nginx
  lint:
    description: Lint the load-balancer semantics on top of C(nginx -t).
    type: bool
    default: true
  fail_on:
    description:
      - C(error) fails when nginx rejects the configuration or a lint finding is an error;
        C(warning) also on lint warnings; C(never) only reports.
    type: str
    choices: [error, warning, never]
    default: error
  deadline:
    description:
      - Seconds C(nginx -t) and C(nginx -v) may take together (more than 0, at most 3600); an nginx still running
        then (an include of a FIFO, an upstream name whose lookup hangs) is killed, and the task fails naming it.
    type: float
    default: 60
    version_added: 0.3.0
attributes:
  check_mode:
    description:
      - Runs C(nginx -t) in check mode as in normal mode, with one difference for a conf.d candidate
        (I(src) or I(content)) - a log file of its C(access_log)/C(error_log) that does not exist yet is
        pointed at a temporary file, because C(nginx -t) would create it.
      - When nginx is not installed yet the task is skipped with a message saying what a real run would test.
      - It only writes temporary files and removes them again.
    support: full
  diff_mode:
    description: Nothing is changed, so there is no diff.
    support: none
  platform:
    support: full
    description: Targets with nginx installed.
    platforms: posix
notes:
  - C(nginx -t) binds the listen ports (an address in use is tolerated), opens log files and resolves
    upstream host names, so an unresolvable server name is an error here as it would be on reload.
  - In check mode on a host where nginx is not installed yet, the candidate cannot be tested;
    the task is then skipped (C(valid=null)) with a message instead of failing.
  - In check mode, when a new log file's path cannot be pointed at a temporary file (a quoted path with
    escapes, or a directive over several lines), C(nginx -t) is not run so that it creates nothing;
    C(valid=null) and a warning say so.
seealso:
  - module: edgeops.nginx_lb.lb_verify
  - module: edgeops.nginx_lb.nginx_file
"""

EXAMPLES = r"""
- name: Validate the live configuration
  edgeops.nginx_lb.nginx_validate:

- name: Validate a candidate before it goes live
  edgeops.nginx_lb.nginx_validate:
    content: "{{ lookup('ansible.builtin.template', 'upstream.conf.j2') }}"
    name: /etc/nginx/conf.d/upstream.conf

- name: Validate a whole nginx.conf candidate with the includes of the live one
  edgeops.nginx_lb.nginx_validate:
    content: "{{ lookup('ansible.builtin.template', 'nginx.conf.j2') }}"
    kind: main
    path: /etc/nginx/nginx.conf

- name: Report everything, fail on nothing
  edgeops.nginx_lb.nginx_validate:
    src: /tmp/upstream.conf
    fail_on: never
  register: nginx_check

- name: Show the upstreams nginx would use
  ansible.builtin.debug:
    msg: "{{ nginx_check.upstreams | map(attribute='name') }}"
"""

RETURN = r"""
valid:
  description: Whether C(nginx -t) accepted the configuration; null when it could not run (check mode, nginx absent).
  returned: always
  type: bool
  sample: true
errors:
  description: nginx's errors.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/nginx/conf.d/upstream.conf", "line": 5, "level": "emerg",
            "message": "host not found in upstream \"app.invalid:7001\""}]
warnings_nginx:
  description: nginx's C([warn]) messages, same form as I(errors).
  returned: always
  type: list
  elements: dict
findings:
  description: Lint findings with C(severity) (error, warning, info), C(message), C(subject), C(file), C(line).
  returned: always
  type: list
  elements: dict
  sample: [{"severity": "warning", "message": "upstream roundrobin lists server 127.0.0.1:7001 twice",
            "subject": "roundrobin", "file": "candidate", "line": 3}]
streams:
  description: The TCP and UDP streams found (name, listen, protocol, upstream with its servers, timeouts).
  returned: always
  type: list
  elements: dict
  version_added: 0.3.0
upstreams:
  description: The upstreams found (name, method, servers with their parameters, zone, keepalive).
  returned: always
  type: list
  elements: dict
locations:
  description: The proxied locations found (path, upstream, strip_prefix).
  returned: always
  type: list
  elements: dict
nginx_version:
  description: Version of the target's nginx.
  returned: when nginx is installed
  type: str
  sample: 1.22.1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import Deadline, run_until
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import read_source, validate


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/nginx/nginx.conf"),
            src=dict(type="path"),
            content=dict(type="str"),
            name=dict(type="str"),
            kind=dict(type="str", choices=["conf.d", "main", "stream"], default="conf.d"),
            modules=dict(type="list", elements="str", default=[]),
            nginx_binary=dict(type="str", default="nginx"),
            lint=dict(type="bool", default=True),
            fail_on=dict(type="str", choices=["error", "warning", "never"], default="error"),
            deadline=dict(type="float", default=60),
        ),
        mutually_exclusive=[("src", "content")],
        supports_check_mode=True,
    )
    params = module.params
    binary = module.get_bin_path(params["nginx_binary"], opt_dirs=["/usr/sbin", "/usr/local/sbin"])
    if binary is None:
        if module.check_mode:
            module.exit_json(changed=False, skipped=True, valid=None, errors=[], warnings_nginx=[], findings=[],
                             upstreams=[], locations=[], streams=[],
                             msg="would test %s with nginx -t once nginx is installed (check mode: %r not found)"
                             % (params["name"] or params["src"] or params["path"], params["nginx_binary"]))
        module.fail_json(msg="nginx binary %r not found on the target" % params["nginx_binary"])

    try:
        deadline = Deadline(params["deadline"])
        if params["src"]:
            params["content"] = read_source(params["src"])
        report = validate(binary, lambda argv: run_until(deadline, argv), path=params["path"],
                          content=params["content"], shown_name=params["name"] or params["src"] or "candidate",
                          lint_model=params["lint"], kind=params["kind"], check_mode=module.check_mode,
                          modules=params["modules"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    if report.valid is None:
        module.warn("check mode: a new log file of the candidate could not be pointed at a temporary file,"
                    " so nginx -t was not run (it would create the file)")
    failure = report.failure(params["fail_on"])
    if failure:
        module.fail_json(msg=failure, **report.as_result())
    module.exit_json(changed=False, **report.as_result())


if __name__ == "__main__":
    main()
