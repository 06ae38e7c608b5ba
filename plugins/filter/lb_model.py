# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lb_model
short_description: Validate and normalise load balancer upstreams and locations
version_added: 0.1.0
author: edgeops engineers
description:
  - Turns the C(load_balancer_upstreams) and C(load_balancer_locations) role variables into the
    normalised model the C(edgeops.nginx_lb.load_balancer) template renders.
  - Fails with one message per wrong field, naming it (for example
    C(load_balancer_upstreams[4].servers[0].weight: must be 1-1000, got 0)).
  - The model is the one C(edgeops.nginx_lb.nginx_validate) and C(edgeops.nginx_lb.lb_verify) read back from a live config.
options:
  _input:
    description: The upstreams, a list of dicts with C(name), C(method), C(servers) and so on.
    type: list
    elements: dict
    required: true
  locations:
    description: The locations, a list of dicts with C(path) and C(upstream).
    type: list
    elements: dict
    required: true
  keepalive:
    description: Upstream keepalive connections for upstreams that do not set C(keepalive); 0 for none.
    type: int
    default: 0
  zone:
    description: Shared memory zone size for upstreams that do not set C(zone); empty for none.
    type: str
    default: ''
"""

EXAMPLES = r"""
- name: Build the model the template renders
  ansible.builtin.set_fact:
    model: "{{ load_balancer_upstreams | edgeops.nginx_lb.lb_model(load_balancer_locations, keepalive=16, zone='64k') }}"
"""

RETURN = r"""
_value:
  description: The model, C(upstreams) (with C(method_args) and per server C(directive_args)) and C(locations).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import (
    ModelError,
    model_from_vars,
    model_to_dict,
)


def lb_model(upstreams, locations, keepalive=0, zone=""):
    try:
        model = model_from_vars(upstreams, locations, default_keepalive=keepalive or None,
                                default_zone=zone or None)
    except ModelError as exc:
        raise AnsibleFilterError("invalid load balancer input:\n  - " + "\n  - ".join(exc.errors))
    return model_to_dict(model)


class FilterModule:
    def filters(self):
        return {"lb_model": lb_model}
