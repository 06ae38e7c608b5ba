# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nginx_validate does, free of AnsibleModule so it can be unit-tested:
`nginx -t` on the live config or a wrapped candidate, then the model read
with the collection's parser, then the lint."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _nginx_check, _nginx_conf
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._check import lint
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._files import kind_of
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import read_regular
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import PATH_RE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Model
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict

_SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}


@dataclass
class ValidationReport:
    valid: Optional[bool]
    subject: str
    errors: list = field(default_factory=list)
    warnings_nginx: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    model: Model = field(default_factory=Model)
    nginx_version: Optional[str] = None

    def failure(self, fail_on):
        """The message to fail with under `fail_on`, or None."""
        if fail_on == "never":
            return None
        if self.valid is False:
            return "nginx -t rejected %s: %s" % (self.subject, "; ".join(_nginx_check.format_errors(self.errors)))
        threshold = _SEVERITY_RANK[fail_on]
        bad = [f for f in self.findings if _SEVERITY_RANK[f["severity"]] >= threshold]
        if bad:
            return "%s: %s" % (self.subject, "; ".join("%s: %s" % (f["severity"], f["message"]) for f in bad))
        return None

    def as_result(self):
        data = model_to_dict(self.model)
        return {
            "valid": self.valid,
            "errors": self.errors,
            "warnings_nginx": self.warnings_nginx,
            "findings": self.findings,
            "upstreams": data["upstreams"],
            "locations": data["locations"],
            "streams": data["streams"],
            "nginx_version": self.nginx_version,
        }


def _read_model(report, parse):
    try:
        report.model = model_from_config(parse())
    except (_nginx_conf.ParseError, OSError) as exc:
        # ParseError also stands for a file that cannot be read and an include loop.
        report.findings.append({"severity": "warning", "subject": None, "file": getattr(exc, "file", None),
                                "line": getattr(exc, "line", None),
                                "message": "could not read upstreams and locations: %s" % exc})


def read_source(src):
    """The bytes of a candidate file on the host, as they are (nginx takes
    any byte in a comment or a string); ValueError naming `src` for a path
    that is missing or no regular file (a FIFO would block the read)."""
    try:
        return read_regular(src, what="src")
    except OSError as exc:
        raise ValueError("src: cannot read %s: %s" % (src, exc.strerror or exc)) from None


def check_path(path, kind="conf.d", candidate=False):
    """`path` as `nginx -t -c` takes it: an absolute path of the allow-list
    (never an option). The live file it names must be a regular file when it
    exists (nginx -t would block on a FIFO); a main candidate is written
    beside it, so its directory must exist. ValueError names `path`."""
    if not isinstance(path, str) or not PATH_RE.match(path):
        raise ValueError("path: must be an absolute path of letters, digits and . _ ~ / -, got %r" % (path,))
    if candidate and kind == "main":
        directory = os.path.dirname(path)
        if not os.path.isdir(directory):
            raise ValueError("path: the directory %s does not exist (a main candidate is tested beside %s)"
                             % (directory, path))
    elif not candidate:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return path  # nginx -t says so, with its own words
        if not stat.S_ISREG(mode):
            raise ValueError("path: %s is %s, not a regular file" % (path, kind_of(mode)))
    return path


def validate(nginx_binary, runner, path="/etc/nginx/nginx.conf", content=None, shown_name="candidate",
             lint_model=True, kind="conf.d", check_mode=False, modules=()):
    """Validate `content` (a conf.d candidate, str or bytes; with kind="main" a
    whole main config meant for `path`) if given, else the config at `path`.
    `check_mode`: a conf.d candidate's new log files are not created (valid is
    None when nginx -t could not run without creating one). kind="stream": a
    top-level file with a `stream` block, checked after `modules` (include
    patterns of the module loaders); ValueError for a pattern that is not a
    path and for a `path` check_path refuses."""
    check_path(path, kind, candidate=content is not None)
    if content is not None and kind == "main":
        result, tree, error = _nginx_check.check_main_candidate(content, path, nginx_binary, shown_name=shown_name,
                                                                runner=runner)
        report = ValidationReport(valid=result.valid, subject=shown_name)

        def parse():
            if error is not None:
                raise error
            return tree
    elif content is not None:
        result = _nginx_check.check_candidate(content, nginx_binary, shown_name=shown_name, runner=runner,
                                              check_mode=check_mode,
                                              stream_modules=list(modules or ()) if kind == "stream" else None)
        if result is None:
            result = _nginx_check.NginxTestResult(valid=None, rc=None)
        report = ValidationReport(valid=result.valid, subject=shown_name)

        def parse():
            return _nginx_conf.parse(content, shown_name)
    else:
        result = _nginx_check.run_nginx_test(path, nginx_binary, runner=runner)
        report = ValidationReport(valid=result.valid, subject=path)

        def parse():
            return _nginx_conf.parse_file(path)
    report.errors = result.errors
    report.warnings_nginx = result.warnings
    report.nginx_version = _nginx_check.nginx_version(nginx_binary, runner=runner)
    if result.valid or content is not None:
        _read_model(report, parse)
    elif _nginx_check.killed(result):
        # nginx died without a word (an include loop does that): the parser can say why.
        try:
            parse()
        except (_nginx_conf.ParseError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            if getattr(exc, "included_from", None):
                message += " (included from %s)" % exc.included_from
            report.errors.append({"level": "emerg", "message": message + " (found by the collection's parser)",
                                  "file": getattr(exc, "file", None), "line": getattr(exc, "line", None)})
    if lint_model:
        report.findings.extend(lint(report.model))
    return report
