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
  - "Fails with one message per wrong field, naming it (for example
    C(load_balancer_upstreams[4].servers[0].weight: must be 1-1000, got 0))."
  - The model is the one C(edgeops.nginx_lb.nginx_validate) and C(edgeops.nginx_lb.lb_verify) read back from a live config.
  - Values are judged as nginx will read them, before C(nginx -t) sees them. A C(listen) is a port, C(IPv4:port) or
    C([IPv6]:port) (no host name, no IPv4-mapped or link-local address, no IPv6 zone id); a C(~regex) server name uses only the
    PCRE that nginx's PCRE2 and Python read alike, and its named captures are no nginx variable; upstream names
    differ in more than case and are not C(SSL) (the role's C(ssl_session_cache) zone); location paths are in normal
    form (no C(//), C(.) or C(..) segment).
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
  groups:
    description:
      - The inventory's C(groups), needed when an upstream takes its servers from a C(group).
      - Every host of the group gives the servers it published in C(app_servers_endpoints) (set by the
        C(edgeops.nginx_lb.app_servers) role, see the C(edgeops.nginx_lb.app_endpoints) filter); a host that is the
        load balancer itself is reached on its loopback address.
    type: dict
  hostvars:
    description: The inventory's C(hostvars), with I(groups).
    type: dict
  site:
    description:
      - The server block's role variables by name (C(load_balancer_listen), C(load_balancer_server_name),
        C(load_balancer_proxy_set_headers) and the others of the role), checked like the upstreams and named in
        errors by their variable names.
      - Without it the model has upstreams and locations only.
    type: dict
  lb_host:
    description: The load balancer host (C(inventory_hostname)); an app host that is the LB itself is reached on 127.0.0.1.
    type: str
  overrides:
    description:
      - "The upstream state file that C(edgeops.nginx_lb.upstream_server) writes on the load balancer
        (C({\"upstreams\": {NAME: {ADDRESS: {\"state\": \"drained\", \"weight\": 5}}}})); C(drained) and C(disabled)
        servers get C(down), a C(weight) replaces the variables' weight. Checked like the variables, named by their
        place in the file. The file's text is read as JSON."
      - An entry for an upstream or server the variables no longer have is ignored with a warning.
    type: raw
  streams:
    description:
      - The TCP and UDP streams (C(load_balancer_streams)), a list of dicts with C(name), C(listen), C(protocol),
        C(method), C(servers) or C(group) and so on, checked by the same rules as the upstreams plus listen clashes
        (with the server block's listens and each other) and what nginx cannot do over UDP, named as
        C(load_balancer_streams[i].field).
      - A C(group) takes the endpoints of the stream's protocol that its hosts published (C(app_servers_tcp_ports),
        C(app_servers_udp_ports)).
    type: list
    elements: dict
    version_added: 0.3.0
  stream_access_log:
    description: The streams' access log file (C(load_balancer_stream_access_log)), or C(off).
    type: str
    version_added: 0.3.0
  sites:
    description:
      - Several server blocks (C(load_balancer_sites)), each with its C(name), C(server_names), C(listen), C(tls),
        C(access_log), C(log_format), C(real_ip) and C(locations) (a C(path) and one of C(upstream), C(redirect),
        C(return), with C(websocket), C(buffering), C(client_max_body_size), C(proxy_read_timeout), C(headers),
        C(allow), C(rate_limit)); what a site does not set comes from I(site). Named as
        C(load_balancer_sites[i].field).
      - Empty or absent, I(site) and the locations describe the one server block.
    type: list
    elements: dict
    version_added: 0.3.0
  tls_dir:
    description: Where the sites' keys and certificates are (C(site_NAME.crt), C(catch_all.crt)).
    type: str
    version_added: 0.3.0
  resolver:
    description:
      - The DNS servers nginx asks for the upstream servers with C(resolve) (C(load_balancer_resolver)) - a dict
        with C(addresses) (IP addresses, optionally C(:PORT)), C(valid) (an nginx time that overrides the records'
        TTL), C(ipv6) (also ask for AAAA records, default false) and C(timeout) (C(resolver_timeout)). It becomes
        the C(resolver) inside every upstream with a C(resolve) server (nginx >= 1.27.3).
    type: dict
    version_added: 0.3.0
  defaults:
    description:
      - The role's defaults, to tell the single-site variables (C(load_balancer_locations),
        C(load_balancer_server_name), C(load_balancer_tls)) set beside I(sites) - an error naming them.
    type: dict
    version_added: 0.3.0
  nginx_version:
    description:
      - The host's nginx version (C(1.22.1)), as C(edgeops.nginx_lb.host_info) reads it; empty or absent when nginx is
        not installed yet.
      - "A feature the host's nginx lacks is an error naming the field (for example
        C(load_balancer_upstreams[2].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has 1.22.1)).
        The syntax that changed between versions is written for this version: C(http2 on) from 1.25.1 (the C(listen)
        parameter before, or when the version is unknown), and from 1.29.7, whose defaults are HTTP/1.1 and upstream
        keepalive, no C(proxy_http_version) line and C(keepalive 0) in an upstream without keepalive."
    type: str
    version_added: 0.3.0
  nginx_candidate:
    description:
      - The version of the nginx package the host's package manager would install (C(1.22.1-9+deb12u12) or
        C(1:1.30.0-1), as C(edgeops.nginx_lb.host_info) reports it in C(candidates)), for a host without nginx yet.
      - "Used only when I(nginx_version) is empty, as nginx's own version (C(1.22.1), the epoch and the Debian revision
        dropped), so that a feature it lacks is named before nginx is installed (for example
        C(load_balancer_upstreams[0].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host would install
        1.22.1)). Empty, absent or not a version - unknown, as without it."
      - C(record.nginx_version) is the version the model was built for (I(nginx_version), else this one).
    type: str
    version_added: 0.3.0
"""

EXAMPLES = r"""
- name: Build the model the template renders
  ansible.builtin.set_fact:
    model: "{{ load_balancer_upstreams | edgeops.nginx_lb.lb_model(load_balancer_locations, keepalive=16, zone='64k') }}"
"""

RETURN = r"""
_value:
  description:
    - The model, C(upstreams) (with C(method_args) and per server C(directive_args)), C(locations) and C(site)
      (the server block's directives with every argument in nginx's words, and C(verify_url)).
    - C(record) - the filter's inputs with the groups expanded (and C(hosts), each app host's server addresses),
      what the role records on the load balancer so that C(edgeops.nginx_lb.upstream_server) builds the same model.
    - C(streams), each with its C(upstream) (as above), C(listen_args), C(proxy_responses) (UDP), C(access_log_args)
      and C(verify_address).
  type: dict
"""

import json

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import STATE_FILE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._features import upstream_version
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._group_servers import PUBLISHED, expand_groups, servers_of
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import SINGLE_SITE_VARS, model_from_record, record_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict


def _published(hostvars):
    """Each app host's one published value (the app_servers role sets it)."""
    def published(name):
        return (hostvars.get(name) or {}).get(PUBLISHED)
    return published


def _hosts(upstreams, groups, published, lb_host):
    """Each app host of a group an upstream names -> the server addresses it gives (for upstream_server's host)."""
    hosts = {}
    for upstream in upstreams if isinstance(upstreams, list) else []:
        if isinstance(upstream, dict) and upstream.get("group") in groups:
            for name in groups[upstream["group"]]:
                try:
                    hosts[name] = [server["address"] for server in servers_of(name, published(name), lb_host)]
                except ValueError:
                    pass  # expand_groups names it
    return hosts


def _with_groups(entries, groups, hostvars, lb_host, errors, streams=False):
    """`entries` with each `group` replaced by the servers its hosts published."""
    if not isinstance(entries, list) or not any(isinstance(u, dict) and u.get("group") is not None for u in entries):
        return entries
    if groups is None or hostvars is None:
        raise AnsibleFilterError("lb_model: an upstream names a group; pass groups=groups, hostvars=hostvars")
    entries, group_errors = expand_groups(entries, groups, _published(hostvars), lb_host,
                                          "load_balancer_streams" if streams else "load_balancer_upstreams", streams)
    errors.extend(group_errors)
    return entries


def _mixed(site, locations, defaults):
    """The single-site variables set to other than the role's defaults."""
    values = dict(site or {}, load_balancer_locations=locations)
    return [name for name in SINGLE_SITE_VARS if name in (defaults or {}) and values.get(name) != defaults[name]]


def lb_model(upstreams, locations, keepalive=0, zone="", groups=None, hostvars=None, lb_host=None, site=None,
             overrides=None, streams=None, stream_access_log=None, sites=None, tls_dir=None, defaults=None,
             resolver=None, nginx_version=None, nginx_candidate=None):
    errors, hosts = [], {}
    # nginx not installed yet: the version its package would install, if known.
    candidate = None if nginx_version else upstream_version(nginx_candidate)
    nginx_version = nginx_version or candidate
    if isinstance(upstreams, list) and any(isinstance(u, dict) and u.get("group") is not None for u in upstreams) \
            and groups is not None and hostvars is not None:
        hosts = _hosts(upstreams, groups, _published(hostvars), lb_host)
    upstreams = _with_groups(upstreams, groups, hostvars, lb_host, errors)
    if sites is not None and not isinstance(sites, list):
        errors.append("load_balancer_sites: must be a list, got %s" % type(sites).__name__)
        sites = None
    streams = _with_groups(streams, groups, hostvars, lb_host, errors, streams=True)
    record = record_from_vars(upstreams, locations, site_vars=site, default_keepalive=keepalive or None,
                              default_zone=zone or None, hosts=hosts, streams=streams,
                              stream_access_log=stream_access_log, sites=sites,
                              mixed=_mixed(site, locations, defaults) if sites else [], tls_dir=tls_dir,
                              resolver=resolver, nginx_version=nginx_version or None)
    warnings = []
    if isinstance(overrides, str):  # the state file's text
        try:
            overrides = json.loads(overrides) if overrides.strip() else None
        except ValueError as exc:
            errors.append("%s: not JSON (%s)" % (STATE_FILE, exc))
            overrides = None
    try:
        # The host's version as asked now (the record keeps the one of the run that wrote it).
        model = model_from_record(record, overrides=overrides, warnings=warnings, nginx_version=nginx_version or None,
                                  nginx_candidate=candidate is not None)
    except ModelError as exc:
        errors.extend(exc.errors)
    if errors:
        raise AnsibleFilterError("invalid load balancer input:\n  - " + "\n  - ".join(errors))
    for warning in warnings:
        Display().warning(warning)
    data = model_to_dict(model)
    data["record"] = record
    return data


class FilterModule:
    def filters(self):
        return {"lb_model": lb_model}
