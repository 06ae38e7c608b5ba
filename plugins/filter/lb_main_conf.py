# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lb_main_conf
short_description: Check the load_balancer role's nginx.conf variables and give them in nginx's words
version_added: 0.3.0
author: edgeops engineers
description:
  - Checks the role variables that go into C(/etc/nginx/nginx.conf) (worker limits, the shutdown timeout, the
    TLS defaults of the http context) against anchored allow-lists and ranges.
  - "Fails with one message per wrong variable, naming it (for example
    C(load_balancer_worker_rlimit_nofile: must be at least twice load_balancer_worker_connections (40960), got 1024))."
options:
  _input:
    description: The variables by name (C(load_balancer_worker_processes), C(load_balancer_worker_connections) and so on).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the main configuration's variables
  ansible.builtin.set_fact:
    main_conf: "{{ {'load_balancer_worker_processes': 'auto', 'load_balancer_worker_connections': 20480} | edgeops.nginx_lb.lb_main_conf }}"
"""

RETURN = r"""
_value:
  description: The words of the template (C(worker_processes), C(worker_connections), C(worker_rlimit_nofile),
    C(limit_nofile), C(worker_shutdown_timeout), C(server_tokens), C(ssl_protocols), C(ssl_ciphers),
    C(ssl_session_cache), C(ssl_session_timeout)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._main_conf import MainConfError, main_conf


def lb_main_conf(values):
    if not isinstance(values, dict):
        raise AnsibleFilterError("lb_main_conf: expects a dict of role variables, got %s" % type(values).__name__)
    try:
        return main_conf(dict(values))
    except MainConfError as exc:
        raise AnsibleFilterError("invalid nginx.conf input:\n  - " + "\n  - ".join(exc.errors))


class FilterModule:
    def filters(self):
        return {"lb_main_conf": lb_main_conf}
