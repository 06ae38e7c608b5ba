#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: upstream_server
short_description: Drain, disable, enable or re-weight a server of an upstream the load_balancer role manages
version_added: 0.3.0
author: edgeops engineers (@edgeops)
description:
  - Takes a server (or every server of an app host) of an nginx upstream out of rotation and back, or changes its
    weight, on a load balancer configured by the C(edgeops.nginx_lb.load_balancer) role. Run it on the load
    balancer, usually with C(delegate_to) from a play on the app hosts, looping over the load balancer group.
  - nginx open source has no runtime API, so the change is a config change made the role's way - the role's model
    (built from the inputs the role recorded on the host at its last run, plus the new state), its one check and
    its template, the candidate tested with the host's C(nginx -t), installed, the whole configuration tested again
    (the previous file is put back when nginx refuses it), then nginx reloaded.
  - C(drained) - the server gets C(down) (no new request reaches it after the reload), then the module waits until
    the workers that ran the old configuration have exited and no nginx process holds a connection to the server,
    or fails after I(timeout) seconds saying how many connections and old workers are left. Idle upstream
    keep-alive connections do not hold it up - old workers close them at once when they shut down, and the new
    workers never connect to a C(down) server.
  - C(drained) on an upstream with C(sticky) where the host's nginx has the C(drain) server parameter (nginx >=
    1.29.6) - the server gets C(drain) instead of C(down) - clients bound to it by the cookie keep reaching it, new
    clients go to the others; the module then waits only for the old workers (the bound clients' connections are
    expected to stay).
  - C(disabled) - the same C(down), without waiting. C(enabled) - back in rotation.
  - The state is kept on the load balancer in I(state_dir)C(/upstream_state.json), which the role reads, so a later
    run of the role (C(site.yml)) keeps a drained or disabled server down and keeps a weight set here, until
    C(state=enabled) clears it. C(enabled) without I(weight) gives the server back to the role's variables
    (weight included); with I(weight) it stays at that weight. An entry for a server that the role's variables no
    longer have is ignored by the role with a warning.
options:
  upstream:
    description:
      - The upstream, as named in C(load_balancer_upstreams), or a list of them - one change for all, so one
        C(nginx -t), one reload and one wait instead of one per upstream (a host in three upstreams is drained with
        one reload, not three).
      - Each upstream named must have the I(server) or servers of the I(host); the error names every one that has not.
    type: list
    elements: str
    required: true
  server:
    description:
      - The server's address C(host:port) as the upstream lists it (written the way the model normalises it, so
        C(10.0.0.12:07001) is C(10.0.0.12:7001)).
      - Exactly one of I(server) and I(host).
    type: str
  host:
    description:
      - Every server of the upstream on this host - an inventory host whose servers the upstream takes from a
        C(group) (its published C(app_servers_endpoints)), or the host part of the servers' addresses - a name,
        an IPv4 address or an IPv6 address with or without brackets (C(::1), C([::1]), C(0:0:0:0:0:0:0:1) are the
        same host).
      - Exactly one of I(server) and I(host).
    type: str
  state:
    description:
      - C(drained) - C(down), then wait for in-flight requests. C(disabled) - C(down) without waiting.
        C(enabled) - in rotation again.
    type: str
    choices: [enabled, drained, disabled]
    default: enabled
  weight:
    description: The server's weight from now on (1-1000), kept in the state file until C(state=enabled) without it.
    type: int
  timeout:
    description:
      - Seconds to wait for in-flight requests with C(state=drained); fail when they are not done by then.
      - nginx ends old workers after C(worker_shutdown_timeout) (the role's C(load_balancer_worker_shutdown_timeout),
        30s by default) even with requests in flight, so a longer I(timeout) needs a longer one of those.
    type: int
    default: 60
  state_dir:
    description:
      - Where the role recorded its model's inputs (C(model_record.json)) and where the state file
        C(upstream_state.json) lives on the load balancer; the role's C(load_balancer_state_dir).
    type: path
    default: /var/lib/edgeops_nginx_lb
  _config:
    description: Internal, set by the action plugin - the rendered upstream configuration when it changed.
    type: str
  _state:
    description: Internal, set by the action plugin - the state file's new text when it changed.
    type: str
  _targets:
    description: Internal, set by the action plugin - the addresses the task acts on.
    type: list
    elements: str
  _paths:
    description: Internal, set by the action plugin - the paths the role recorded (configuration, nginx.conf, pid file).
    type: dict
  _draining:
    description: Internal, set by the action plugin - the targets that got nginx's C(drain) (sticky upstreams).
    type: list
    elements: str
    default: []
attributes:
  action:
    support: full
    description: An action plugin of the same name renders the role's template on the controller.
  check_mode:
    support: full
    description:
      - Builds the model and renders the configuration, tests a changed candidate with the host's C(nginx -t),
        reports C(changed) and the diff; writes nothing, reloads nothing, waits for nothing.
  diff_mode:
    support: full
    description: The state file's and the upstream configuration's changes.
  platform:
    support: full
    description: A load balancer configured by the C(edgeops.nginx_lb.load_balancer) role.
    platforms: posix
notes:
  - A server or upstream that the load balancer's model does not have is an error naming I(server), I(host) or
    I(upstream); so is a change the model's check refuses (for example taking down the last usable server of an
    upstream).
  - The model record, the state file, the upstream configuration and the pid file must be regular files; a FIFO,
    a directory or a device in their place, or a state file or record of the wrong shape (a string where an object
    belongs), fails the task naming the file and the place in it, before anything changes.
  - The state file is read on the controller and written on the host; run one C(upstream_server) task per load
    balancer at a time (C(serial) or C(throttle=1) when several app hosts share a batch).
  - C(changed) only when the state file or the configuration changed; a C(drained) server that already is still
    gets the wait, which then returns at once.
seealso:
  - module: edgeops.nginx_lb.nginx_validate
  - module: edgeops.nginx_lb.lb_verify
"""

EXAMPLES = r"""
- name: Drain app2's servers on every load balancer before its deploy
  edgeops.nginx_lb.upstream_server:
    upstream: pool
    host: "{{ inventory_hostname }}"
    state: drained
    timeout: 60
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"

- name: Drain a host in every upstream it serves with one reload per load balancer
  edgeops.nginx_lb.upstream_server:
    upstream: [roundrobin, leastconn, iphash]
    host: app2
    state: drained
  delegate_to: "{{ item }}"
  loop: "{{ groups['lb'] }}"

- name: Take one server out without waiting
  edgeops.nginx_lb.upstream_server:
    upstream: pool
    server: 10.0.0.12:7001
    state: disabled

- name: Back in rotation at a fifth of its peers' weight (a canary)
  edgeops.nginx_lb.upstream_server:
    upstream: pool
    server: 10.0.0.12:7001
    state: enabled
    weight: 1

- name: Back to what the role's variables say
  edgeops.nginx_lb.upstream_server:
    upstream: pool
    server: 10.0.0.12:7001
    state: enabled
"""

RETURN = r"""
servers:
  description: The addresses the task acted on (each once, over every upstream named).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.12:7001"]
config_changed:
  description: Whether the upstream configuration changed (and nginx was reloaded).
  returned: always
  type: bool
state_changed:
  description: Whether the state file changed.
  returned: always
  type: bool
reloaded:
  description: Whether nginx was reloaded (a changed configuration, not in check mode).
  returned: always
  type: bool
drain:
  description:
    - With C(state=drained) outside check mode - C(waited) (seconds), C(drained), C(old_workers_at_start),
      C(connections_at_start) (in flight when the wait began) and what was left at the end.
  returned: when state is drained
  type: dict
  sample: {"waited": 9.4, "drained": true, "old_workers_at_start": 2, "connections_at_start": 20,
           "old_workers": 0, "connections": 0}
"""

import os
import signal

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _drain
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import DEFAULT_STATE_DIR
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._golive import go_live, nginx_checks, write_atomically


def main():
    module = AnsibleModule(
        argument_spec=dict(
            upstream=dict(type="list", elements="str", required=True),
            server=dict(type="str"),
            host=dict(type="str"),
            state=dict(type="str", choices=list(_drain.STATES), default="enabled"),
            weight=dict(type="int"),
            timeout=dict(type="int", default=60),
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            # Set by the action plugin: the rendered configuration and state
            # file (None: unchanged), the addresses, the paths of the record.
            _config=dict(type="str"),
            _state=dict(type="str"),
            _targets=dict(type="list", elements="str"),
            _draining=dict(type="list", elements="str", default=[]),
            _paths=dict(type="dict"),
        ),
        mutually_exclusive=[("server", "host")],
        required_one_of=[("server", "host")],
        supports_check_mode=True,
    )
    params = module.params
    if params["_paths"] is None or params["_targets"] is None:
        module.fail_json(msg="upstream_server runs through its action plugin (edgeops.nginx_lb.upstream_server)")
    paths = params["_paths"]
    targets = params["_targets"]
    result = dict(changed=params["_config"] is not None or params["_state"] is not None, servers=targets,
                  config_changed=params["_config"] is not None, state_changed=params["_state"] is not None,
                  reloaded=False)
    binary = module.get_bin_path("nginx", opt_dirs=["/usr/sbin", "/usr/local/sbin"], required=True)
    proc = _drain.Proc()
    try:
        # Resolved before anything changes: a name nginx resolved must resolve here too.
        # A server with nginx's drain keeps its sticky clients: only the old workers are waited for.
        endpoints = _drain.endpoints_of([target for target in targets if target not in params["_draining"]])
        master = _drain.read_pid(paths["nginx_pid"], proc) if not module.check_mode else None
    except (_drain.DrainError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    if params["_config"] is not None:
        try:
            check_candidate, check_whole = nginx_checks(binary, module.run_command, paths["conf_path"],
                                                        paths["nginx_conf"], check_mode=module.check_mode)
            dummy, failure = go_live(paths["conf_path"], params["_config"].encode(), check_candidate, check_whole,
                                     move=module.atomic_move, check_mode=module.check_mode)
        except (ValueError, OSError) as exc:
            failure = str(exc)
        if failure:
            module.fail_json(msg=failure, **result)
    if module.check_mode:
        module.exit_json(**result)
    if params["_state"] is not None:
        write_atomically(os.path.join(params["state_dir"], _drain.STATE_FILE), params["_state"].encode(),
                         move=module.atomic_move)
    old = proc.children(master)
    if params["_config"] is not None:
        # Checked above with the file in place; now the reload (nginx -s reload is this signal).
        os.kill(master, signal.SIGHUP)
        result["reloaded"] = True
    if params["state"] == "drained":
        drain = _drain.wait_drained(_drain.observer(proc, master, old if result["reloaded"] else {}, endpoints),
                                    params["timeout"])
        result["drain"] = drain
        if not drain["drained"]:
            module.fail_json(msg=_drain.timeout_message(drain, targets, params["timeout"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
