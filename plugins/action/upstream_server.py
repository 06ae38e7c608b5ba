# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of edgeops.nginx_lb.upstream_server.

The one code path of the load_balancer role for a config change: the model
from the inputs the role recorded on the load balancer (model_from_record)
plus the new state file, the model's one check, and the role's own template
(upstream.conf.j2 of the role that Ansible's collection loader finds, rendered
by the template lookup as the role's render.yml does). The module then
tests, installs (the go-live path of nginx_file), reloads and waits on the
host."""

from __future__ import annotations

import json
import os

from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader
from ansible.utils.collection_loader._collection_finder import _get_collection_role_path

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _drain
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import DEFAULT_STATE_DIR
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_record
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict

ROLE = "edgeops.nginx_lb.load_balancer"
TEMPLATE = "upstream.conf.j2"
MODULE = "edgeops.nginx_lb.upstream_server"
READER = "edgeops.nginx_lb.host_info"
PUBLIC = ("upstream", "server", "host", "state", "weight", "timeout", "state_dir")


def role_template(name, role=ROLE):
    """The path of the template `name` of `role`, found the way `include_role`
    finds the role (Ansible's collection loader), wherever the collection is
    installed; DrainError when the loader does not know the role."""
    found = _get_collection_role_path(role)
    if not found:
        raise _drain.DrainError(["cannot find the role %s through Ansible's collection loader "
                                 "(is the collection installed?)" % role])
    return os.path.join(found[1], "templates", name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(PUBLIC)

    def _read(self, paths, task_vars):
        """{path: text on the host, None when it does not exist}, in one module
        run; a path that is no regular file (a FIFO would block a reader for
        ever) fails naming it, before anything changes."""
        result = self._execute_module(module_name=READER, module_args={"read": list(paths)}, task_vars=task_vars)
        if result.get("failed"):
            raise _drain.DrainError(["cannot read on the load balancer: %s" % result.get("msg")])
        return result["content"]

    def _render(self, model, template_vars):
        variables = dict(template_vars or {})
        variables["load_balancer_model"] = model_to_dict(model)
        lookup = lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
        return lookup.run([role_template(TEMPLATE)], variables=variables)[0]

    def _plan(self, args, task_vars):
        """Everything decided on the controller: (module arguments, diff, warnings); DrainError named."""
        request = _drain.check_request(args.get("upstream"), args.get("server"), args.get("host"),
                                       args.get("state", "enabled"), args.get("weight"), args.get("timeout", 60))
        state_dir = args.get("state_dir") or DEFAULT_STATE_DIR
        record_path = os.path.join(state_dir, _drain.RECORD_FILE)
        state_path = os.path.join(state_dir, _drain.STATE_FILE)
        texts = self._read((record_path, state_path), task_vars)
        record_text = texts[record_path]
        if record_text is None:
            raise _drain.DrainError(["upstream: no model recorded on this host (%s): run the "
                                     "edgeops.nginx_lb.load_balancer role on it first" % record_path])
        try:
            record = json.loads(record_text)
        except ValueError as exc:
            raise _drain.DrainError(["%s: not JSON (%s)" % (record_path, exc)]) from None
        paths = record.get("paths") if isinstance(record, dict) else None
        if not isinstance(paths, dict) or not all(isinstance(paths.get(key), str) for key in _drain.RECORD_PATHS):
            raise _drain.DrainError(["%s: must name %s under 'paths': run the edgeops.nginx_lb.load_balancer role "
                                     "again" % (record_path, ", ".join(_drain.RECORD_PATHS))])
        state_text = texts[state_path]
        _drain.check_record(record, record_path)
        state = _drain.parse_state(state_text, state_path)
        by_upstream = _drain.resolve_all(record, request["upstream"], request["server"], request["host"])
        targets = _drain.addresses_of(by_upstream)
        new_state = _drain.next_state_all(state, by_upstream, request["state"], request["weight"])
        warnings = []
        try:
            model = model_from_record(record, overrides=new_state, warnings=warnings)
        except ModelError as exc:
            raise _drain.DrainError(["state: the model's check refuses the change: %s" % "; ".join(exc.errors)]) from None
        config = self._render(model, record.get("template_vars"))
        live = self._read((paths["conf_path"],), task_vars)[paths["conf_path"]]
        new_state_text = _drain.dump_state(new_state)
        state_changed = new_state_text != (state_text or _drain.dump_state({}))
        module_args = {key: value for key, value in request.items() if key in PUBLIC and value is not None}
        module_args.update(state_dir=state_dir, _config=config if config != live else None,
                           _state=new_state_text if state_changed else None, _targets=targets, _paths=paths,
                           _draining=_drain.own_drain_targets(model, targets))
        diff = [{"before_header": state_path, "after_header": state_path, "before": state_text or "",
                 "after": new_state_text if state_changed else state_text or ""},
                {"before_header": paths["conf_path"], "after_header": paths["conf_path"], "before": live or "",
                 "after": config}]
        return module_args, diff, warnings

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            module_args, diff, warnings = self._plan(self._task.args, task_vars or {})
        except ModelError as exc:  # DrainError too: the field named
            result.update(failed=True, msg="; ".join(exc.errors), changed=False)
            return result
        result.update(self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars))
        if warnings:
            result["warnings"] = list(result.get("warnings") or []) + warnings
        if self._task.diff and result.get("changed"):
            result["diff"] = diff
        return result
