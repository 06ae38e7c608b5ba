# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: lb_tls_pair
short_description: Check on the controller that a private key belongs to a certificate
version_added: 0.3.0
author: edgeops engineers
description:
  - True when the key is the private key of the first certificate of the PEM text (a chain may follow it).
  - Fails naming C(load_balancer_tls.cert) (not a PEM certificate) or C(load_balancer_tls.key) (not an unencrypted
    PEM key, or the key of another certificate); the key itself is never repeated in a message.
  - Uses the C(cryptography) package on the controller.
options:
  _input:
    description: The certificate, PEM text.
    type: str
    required: true
  key:
    description: The private key, PEM text.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The key belongs to the certificate
  ansible.builtin.assert:
    that: lookup('ansible.builtin.file', 'lb.crt') | edgeops.nginx_lb.lb_tls_pair(lookup('ansible.builtin.file', 'lb.key'))
"""

RETURN = r"""
_value:
  description: True (it fails otherwise).
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._tls import key_matches_cert


def lb_tls_pair(cert_pem, key):
    problem = key_matches_cert(str(cert_pem), str(key))
    if problem is None:
        return True
    field = "load_balancer_tls.cert" if problem.startswith("is not a PEM certificate") else "load_balancer_tls.key"
    raise AnsibleFilterError("%s: %s" % (field, problem))


class FilterModule:
    def filters(self):
        return {"lb_tls_pair": lb_tls_pair}
