# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: app_endpoints
short_description: The endpoints an app host offers the load balancer
version_added: 0.3.0
author: edgeops engineers
description:
  - The one value through which the C(edgeops.nginx_lb.app_servers) and C(edgeops.nginx_lb.load_balancer) roles meet.
    The app_servers role publishes it per host as C(app_servers_endpoints); an upstream with C(group) takes its
    servers from it and from nothing else.
  - One entry per port, C(address) (how other hosts reach it, or null when it listens on loopback only),
    C(local_address) (how a client on the same host reaches it, or null) and C(weight).
  - Fails naming the C(app_servers_*) variable that is wrong.
options:
  _input:
    description: The ports (C(app_servers_ports)).
    type: list
    elements: int
    required: true
  bind_address:
    description: C(app_servers_bind_address). A routable address or name is used as it is; C(0.0.0.0) is reached at
      I(ansible_host), else I(default_ipv4), else I(inventory_hostname).
    type: str
    required: true
  weight:
    description: C(app_servers_weight), 1-1000.
    type: int
    required: true
  ansible_host:
    description: The host's C(ansible_host).
    type: str
  default_ipv4:
    description: The host's default IPv4 address (C(ansible_facts.default_ipv4.address)).
    type: str
  inventory_hostname:
    description: The host's inventory name, the last resort for C(0.0.0.0).
    type: str
  tcp_ports:
    description: C(app_servers_tcp_ports), published with C(protocol=tcp) for the streams of the load balancer.
    type: list
    elements: int
    version_added: 0.3.0
  udp_ports:
    description: C(app_servers_udp_ports), published with C(protocol=udp).
    type: list
    elements: int
    version_added: 0.3.0
"""

EXAMPLES = r"""
- name: Publish this host's endpoints
  ansible.builtin.set_fact:
    app_servers_endpoints: >-
      {{ app_servers_ports | edgeops.nginx_lb.app_endpoints(bind_address=app_servers_bind_address,
                                                            weight=app_servers_weight,
                                                            inventory_hostname=inventory_hostname) }}
"""

RETURN = r"""
_value:
  description: One C({address, local_address, weight}) per HTTP port, then one C({address, local_address, weight,
    protocol}) per TCP and UDP port.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._group_servers import endpoints


def app_endpoints(ports, bind_address, weight, ansible_host=None, default_ipv4=None, inventory_hostname=None,
                  tcp_ports=None, udp_ports=None):
    try:
        return endpoints(ports, bind_address, weight, ansible_host, default_ipv4, inventory_hostname, tcp_ports,
                         udp_ports)
    except ValueError as exc:
        raise AnsibleFilterError("invalid app server input: %s" % exc) from None


class FilterModule:
    def filters(self):
        return {"app_endpoints": app_endpoints}
