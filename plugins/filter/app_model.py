# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: app_model
short_description: Check the app_servers role's variables and choose each instance's mode
version_added: 0.3.0
author: edgeops engineers
description:
  - Checks the C(edgeops.nginx_lb.app_servers) role's variables before anything on the host changes, against
    anchored allow-lists (what reaches the unit, the settings files and the command line).
  - "Fails with one message per wrong variable, naming it (for example
    C(app_servers_weight: must be 1-1000, got 0))."
options:
  _input:
    description: The role's variables by name (C(app_servers_ports), C(app_servers_bind_address) and the others).
    type: dict
    required: true
  lb_hosts:
    description:
      - The hosts of C(app_servers_lb_group). With none, an empty C(app_servers_allowed_networks) is an error
        unless the app servers bind a loopback address.
    type: list
    elements: str
    default: []
  own_addresses:
    description: This host's addresses (its facts), allowed to connect.
    type: list
    elements: str
    default: []
  lb_addresses:
    description: The load balancers' addresses (their facts), allowed to connect when C(app_servers_allowed_networks) is empty.
    type: list
    elements: str
    default: []
  floating:
    description: Floating addresses (the ha role's VIPs), never allowed (they move with the VRRP master).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Check the variables
  ansible.builtin.set_fact:
    app_servers_model: "{{ {'app_servers_ports': app_servers_ports, 'app_servers_weight': app_servers_weight}
                           | edgeops.nginx_lb.app_model(lb_hosts=groups['lb']) }}"
"""

RETURN = r"""
_value:
  description:
    - C(modes) - each instance's port (a string) to C(http), C(tcp) or C(udp); C(all_ports) - every port.
    - C(ip_allow) - the unit's C(IPAddressAllow) list - loopback, this host's addresses, then
      C(app_servers_allowed_networks) or else the load balancers' addresses, without the floating ones; each
      checked to be an address or CIDR.
    - C(allow) - the allow-lists the launcher on the host applies again to the release's command (C(item)) and
      to what its placeholders expand to (C(value)); the role writes them into the release description.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._app_model import AppInputError, app_model


def _app_model(variables, lb_hosts=None, own_addresses=None, lb_addresses=None, floating=None):
    try:
        return app_model(variables, lb_hosts=lb_hosts or [], own_addresses=own_addresses or [],
                         lb_addresses=lb_addresses or [], floating=floating or [])
    except AppInputError as exc:
        raise AnsibleFilterError("app_servers: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"app_model": _app_model}
