# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark only (benchmarks/ssh_rerun.py): host_info as Ansible's own modules.

Installed as the collection's action plugin in a throw-away overlay, it asks
what a role written with Ansible's modules would ask, one module run per
question (command for the package query, the units and nginx -v; getent for
the user and the group; find per directory; slurp per state file), and
returns host_info's result shape so the roles run unchanged.
"""

from __future__ import annotations

import base64

from ansible.plugins.action import ActionBase

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_info import (
    PACKAGE_QUERIES, UNITS_QUERY, parse_dpkg, parse_units)


class ActionModule(ActionBase):

    def _run(self, name, task_vars, **args):
        return self._execute_module(module_name=name, module_args=args, task_vars=task_vars)

    def _command(self, argv, task_vars):
        answer = self._run("ansible.builtin.command", task_vars, argv=argv)
        return {"rc": answer.get("rc"), "stdout": answer.get("stdout", "") + "\n" if answer.get("stdout") else "",
                "stderr": answer.get("stderr", "")}

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        answers = {}
        if args.get("package_manager") and args.get("packages"):
            answer = self._command(PACKAGE_QUERIES[args["package_manager"]] + ["--"] + list(args["packages"]), task_vars)
            answers["packages"] = parse_dpkg(answer["stdout"], args["packages"])
        if args.get("user"):
            found = self._run("ansible.builtin.getent", task_vars, database="passwd", key=args["user"],
                              fail_key=False).get("ansible_facts", {}).get("getent_passwd", {}).get(args["user"])
            if found:
                group = self._run("ansible.builtin.getent", task_vars, database="group", key=found[2],
                                  fail_key=False).get("ansible_facts", {}).get("getent_group", {})
                answers["user"] = {"name": args["user"], "uid": int(found[1]), "home": found[4], "shell": found[5],
                                   "group": next(iter(group), found[2])}
            else:
                answers["user"] = None
        if args.get("group"):
            found = self._run("ansible.builtin.getent", task_vars, database="group", key=args["group"],
                              fail_key=False).get("ansible_facts", {}).get("getent_group", {}).get(args["group"])
            answers["group"] = {"name": args["group"], "gid": int(found[1])} if found else None
        if args.get("directories"):
            answers["files"] = []
            for directory in args["directories"]:
                found = self._run("ansible.builtin.find", task_vars, paths=[directory], file_type="any")
                answers["files"].extend(sorted(found.get("files", []), key=lambda item: item["path"]))
        if args.get("read"):
            answers["content"] = {}
            for path in args["read"]:
                found = self._run("ansible.builtin.slurp", task_vars, src=path)
                answers["content"][path] = (None if found.get("failed")
                                            else base64.b64decode(found["content"]).decode("utf-8", "replace"))
        if args.get("units"):
            answers["units"] = parse_units(self._command(UNITS_QUERY + ["--", args["units"]], task_vars)["stdout"])
        if args.get("nginx"):
            answer = self._command(["sh", "-c", "nginx -v 2>&1 || true"], task_vars)
            version = answer["stdout"].strip().partition("nginx/")[2].split(" ")[0] or None
            answers["nginx_version"] = version
        return dict(result, changed=False, **answers)
