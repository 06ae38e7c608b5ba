# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: ha_plan
short_description: Validate the ha role's variables and plan keepalived's VRRP instances for one load balancer
version_added: 0.3.0
author: edgeops engineers
description:
  - Turns the C(edgeops.nginx_lb.ha) role's variables into what its templates render - the VRRP instances
    (floating address, interface, virtual router id, unicast peers), this host's priority, the track script's
    counts, the nginx status server and the exporter's address.
  - Fails with one message per wrong field, naming it, before anything on the host changes.
  - "For example: V(ha_vip: 10.9.0.10/24 is outside every network of lb1's interfaces ...),
    V(ha_lb_group: group 'lb' has 1 host ...; a floating address needs at least two load balancers),
    V(ha_extra_instances[0].virtual_router_id: virtual router id 51 is already used by ha_virtual_router_id ...)."
  - The interface of an instance is the one of the host that holds an address in the floating address's
    network (unless C(ha_interface) names it); unicast peers are the other hosts' addresses in that network,
    from their facts.
  - Nothing reaches keepalived.conf that keepalived's config reader would substitute, read as a directive or cut -
    C($) (C($_RANDOM), C(${NAME}) ...), C(~) (C(~SEQ)), C(@) (conditional lines), C(#), C(!), quotes, braces,
    space - in C(ha_auth_pass), C(ha_interface) or an interface name from the facts (named with its host),
    nor in the paths C(ha_python), C(ha_script_dir), C(ha_handover_file), C(ha_ip_command); an interface name
    never starts with C(-) (it is an argument of C(ip address del)).
options:
  _input:
    description: The role's variables by name (C(ha_vip), C(ha_virtual_router_id) and the others, with
      C(ha_python), C(ha_script_dir), C(ha_handover_file) and C(ha_ip_command) of the role's vars).
    type: dict
    required: true
  host:
    description: The load balancer the plan is for (C(inventory_hostname)).
    type: str
    required: true
  group:
    description: The name of the load balancers' inventory group (for messages).
    type: str
    required: true
  group_hosts:
    description: The hosts of that group, in inventory order (default priorities follow it).
    type: list
    elements: str
    required: true
  hostvars:
    description: The inventory's C(hostvars) (each host's C(ha_priority) and C(ansible_facts)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Plan the VRRP instances of this load balancer
  ansible.builtin.set_fact:
    ha_model: >-
      {{ {'ha_vip': ha_vip, 'ha_virtual_router_id': ha_virtual_router_id}
         | edgeops.nginx_lb.ha_plan(inventory_hostname, 'lb', groups['lb'], hostvars) }}
"""

RETURN = r"""
_value:
  description:
    - C(instances) (per VRRP instance C(name), C(vip), C(address), C(interface), C(virtual_router_id),
      C(unicast_src_ip), C(unicast_peers)), C(priority), C(advert_int), C(down_timer_adverts),
      C(handover_wait) (seconds nginx's stop waits for nginx to finish its requests, then as long for another
      host to answer on the addresses), C(nopreempt),
      C(auth) (whether I(ha_auth_pass) is set),
      C(status) (C(listen), C(path), C(allow), C(url)), C(check), C(exporter), C(router_id),
      C(files) (C(python), C(script_dir), C(handover_file), C(ip_command) - the paths keepalived.conf and the
      units name).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._ha import HaError, ha_plan as _ha_plan


def ha_plan(role_vars, host, group, group_hosts, hostvars):
    try:
        return _ha_plan(dict(role_vars), host, group, list(group_hosts or []), hostvars)
    except HaError as exc:
        raise AnsibleFilterError("invalid high-availability input:\n  - " + "\n  - ".join(exc.errors)) from None


class FilterModule:
    def filters(self):
        return {"ha_plan": ha_plan}
