# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark only (benchmarks/ssh_rerun.py): host_files as Ansible's own modules.

Installed as the collection's action plugin in a throw-away overlay, it does
what a role written with ansible.builtin.copy and ansible.builtin.file in a
loop would do: one copy action (stat, then copy or file) per file, one file
module run per directory, link and removal. It returns host_files' result
shape so the roles run unchanged.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def _builtin(self, name, args, task_vars):
        if name != "ansible.builtin.copy":
            return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)
        task = self._task.copy()
        task.args = args
        action = self._shared_loader_obj.action_loader.get(
            name, task=task, connection=self._connection, play_context=self._play_context, loader=self._loader,
            templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return action.run(task_vars=task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        entries = list(self._task.args.get("files") or []) + [
            {"path": path, "state": "absent"} for path in self._task.args.get("absent") or []]
        results = []
        for entry in entries:
            attrs = {key: entry[key] for key in ("owner", "group", "mode") if entry.get(key) is not None}
            state = entry.get("state") or ("link" if entry.get("src") else "file")
            if state == "file" and entry.get("content") is not None:
                name, args = "ansible.builtin.copy", dict(attrs, dest=entry["path"], content=entry["content"])
            elif state == "file" and entry.get("copy_from"):
                name, args = "ansible.builtin.copy", dict(attrs, dest=entry["path"], src=entry["copy_from"],
                                                          remote_src=True, force=entry.get("force", True))
            elif state == "link":
                name, args = "ansible.builtin.file", dict(attrs, path=entry["path"], src=entry["src"], state="link")
            else:
                name, args = "ansible.builtin.file", dict(attrs, path=entry["path"], state=state)
            answer = self._builtin(name, args, task_vars)
            if answer.get("failed"):
                return dict(result, failed=True, msg="%s: %s" % (entry["path"], answer.get("msg")))
            results.append({"path": entry["path"], "state": state, "changed": bool(answer.get("changed"))})
        return dict(result, changed=any(item["changed"] for item in results), results=results,
                    changed_paths=[item["path"] for item in results if item["changed"]])
