# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: time every task and keep a few results, as JSON.

Enabled only by benchmarks/bench.py (ANSIBLE_CALLBACKS_ENABLED=bench_timer);
writes the file named by $BENCH_TIMER_OUT when the playbook ends.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Per-task wall time and selected results for the benchmark
description:
  - Writes one JSON file (path from C(BENCH_TIMER_OUT)) with the playbook wall time, one entry per task
    result (name, action, status, seconds, loop items run) and the results of lb_verify and nginx_validate.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

KEEP_RESULTS = ("lb_verify", "nginx_validate")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._start = time.monotonic()
        self._task_start = {}
        self._items = {}
        self._tasks = []

    def _begin(self, task):
        self._task_start[task._uuid] = time.monotonic()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._begin(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._begin(task)

    def _record(self, result, status):
        task = result._task
        started = self._task_start.get(task._uuid, self._start)
        entry = {
            "name": task.get_name(),
            "action": task.action,
            "host": result._host.get_name(),
            "status": status,
            "changed": bool(result._result.get("changed")),
            "seconds": round(time.monotonic() - started, 4),
            "items": self._items.pop(task._uuid, 0),
        }
        if task.action.split(".")[-1] in KEEP_RESULTS:
            entry["result"] = {key: result._result.get(key)
                               for key in ("locations", "passed", "valid", "upstreams", "errors", "msg")
                               if key in result._result}
        self._tasks.append(entry)

    def _item(self, result):
        self._items[result._task._uuid] = self._items.get(result._task._uuid, 0) + 1

    def v2_runner_item_on_ok(self, result):
        self._item(result)

    def v2_runner_item_on_failed(self, result):
        self._item(result)

    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_TIMER_OUT")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"wall_s": round(time.monotonic() - self._start, 3), "tasks": self._tasks}, handle)
