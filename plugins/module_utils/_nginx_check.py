# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the target's own `nginx -t` and turn its output into data.

A conf.d snippet cannot be tested alone (`upstream` is not allowed at main
level), so a candidate is wrapped in a throwaway main config with its own
pid file and an http context that includes it by absolute path.

nginx echoes file names and directives byte for byte, so its output is
decoded leniently: a byte that is not UTF-8 shows as `\\xNN` (`to_text`),
and every string handed back can be JSON.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _nginx_conf
from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _syntax as syntax
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import to_text

# Before the error log is open nginx writes
#   nginx: [emerg] unknown directive "x" in /etc/nginx/conf.d/a.conf:5
# and once it is (error_log stderr) the log form
#   2026/01/01 10:00:00 [emerg] 42#42: host not found in upstream "x:80" in /etc/nginx/conf.d/a.conf:5
_MESSAGE_RE = re.compile(
    r"\A(?:nginx: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )\[(?P<level>[a-z]+)\] (?:\d+#\d+: )?"
    r"(?P<message>.*?)(?: in (?P<file>\S+?):(?P<line>\d+))?\s*\Z")
_VERSION_RE = re.compile(r"nginx/(\d+(?:\.\d+)*)")
_FAILURE_LEVELS = ("emerg", "alert", "crit", "error")

WRAPPER_TEMPLATE = """\
# Throwaway main config of edgeops.nginx_lb.nginx_validate.
pid {workdir}/nginx.pid;
error_log stderr notice;
events {{ }}
http {{
    include {candidate};
}}
"""


# A stream candidate holds a whole `stream` block: it is included at the top
# level, after the includes that load nginx's dynamic modules (the stream
# module among them). No -p: Debian's `load_module modules/...` is relative
# to nginx's compiled prefix.
STREAM_WRAPPER_TEMPLATE = """\
# Throwaway main config of edgeops.nginx_lb.nginx_validate (a stream candidate).
pid {workdir}/nginx.pid;
error_log stderr notice;
{modules}events {{ }}
include {candidate};
"""


def _module_lines(modules):
    """`include PATTERN;` lines of the module loaders; ValueError for a pattern
    that is not an absolute path (an anchored allow-list: it goes into a config)."""
    lines = []
    for pattern in modules or ():
        if not isinstance(pattern, str) or not syntax.GLOB_PATH_RE.match(pattern):
            raise ValueError("modules: must be absolute paths or globs of letters, digits and . _ - / *, got %r"
                             % (pattern,))
        lines.append("include %s;\n" % pattern)
    return "".join(lines)


@dataclass
class NginxTestResult:
    valid: bool
    rc: int
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    output: list = field(default_factory=list)


def _subprocess_runner(argv):
    # The runner for callers without an AnsibleModule (no run_command there); modules pass their own.
    # (ansible-test 2.21's pylint on Python 3.13 asks for run_command.)
    # pylint: disable-next=ansible-bad-function
    proc = subprocess.run(argv, capture_output=True, check=False)
    return proc.returncode, to_text(proc.stdout), to_text(proc.stderr)


def parse_messages(text):
    """nginx's `[level] message in file:line` lines -> list of dicts.

    (run_nginx_test has already put the names a user knows in place of
    temporary file names.)
    """
    messages = []
    for raw in text.splitlines():
        match = _MESSAGE_RE.match(raw.strip())
        if not match:
            continue
        file_name = match.group("file")
        messages.append({
            "level": match.group("level"),
            "message": match.group("message"),
            "file": file_name,
            "line": int(match.group("line")) if match.group("line") else None,
        })
    return messages


def _exit_words(rc):
    """'nginx -t exited 1', or the signal that killed it (a shell's 128+N too):
    nginx dies of SIGSEGV on an include loop, without a word."""
    signal_number = -rc if rc < 0 else rc - 128 if rc > 128 else None
    if signal_number:
        try:
            name = " (%s)" % signal.Signals(signal_number).name
        except ValueError:
            name = ""
        return "nginx -t was killed by signal %d%s" % (signal_number, name)
    return "nginx -t exited %d" % rc


def killed(result):
    """Whether nginx -t died of a signal rather than answered."""
    return not result.valid and (result.rc < 0 or result.rc > 128)


def run_nginx_test(config_path, nginx_binary="nginx", prefix=None, runner=None, rename=None):
    """`nginx -t -c config_path` -> NginxTestResult."""
    argv = [nginx_binary, "-t", "-c", config_path]
    if prefix:
        argv += ["-p", prefix]
    rc, out, err = (runner or _subprocess_runner)(argv)
    # A runner may hand back bytes, or text with surrogate-escaped bytes
    # (AnsibleModule.run_command does): plain text from here on.
    text = "\n".join(to_text(part) for part in (out, err) if part)
    for temp_name, shown in (rename or {}).items():
        text = text.replace(temp_name, shown)
    messages = parse_messages(text)
    errors = [m for m in messages if m["level"] in _FAILURE_LEVELS]
    if rc != 0 and not errors:
        # Keep nginx's own words even when they are not in the usual form.
        errors = [{"level": "emerg", "message": line, "file": None, "line": None}
                  for line in text.splitlines() if line.strip() and not line.startswith("nginx: configuration file")]
        errors = errors or [{"level": "emerg", "message": _exit_words(rc), "file": None, "line": None}]
    return NginxTestResult(
        valid=rc == 0,
        rc=rc,
        errors=errors if rc != 0 else [],
        warnings=[m for m in messages if m["level"] == "warn"],
        output=text.splitlines(),
    )


# Log directives whose file nginx -t opens (and creates when it is missing).
_LOG_DIRECTIVES = ("access_log", "error_log")


def _log_files(tree):
    """(directive, path) of every absolute log file the config opens at
    `nginx -t`: not `off`, stderr, syslog: or memory:, no variables (nginx
    opens those per request)."""
    for directive in _nginx_conf.walk(tree):
        if directive.name not in _LOG_DIRECTIVES or not directive.args:
            continue
        path = directive.args[0]
        if path.startswith("/") and "$" not in path:
            yield directive, path


def redirect_new_logs(content, workdir):
    """Check mode: `nginx -t` creates a log file that does not exist yet, so
    each such access_log/error_log file of the candidate whose directory
    exists is pointed at a file in `workdir` instead (same line, same other
    arguments). A log in a directory that does not exist is kept: nginx -t
    then fails on it as a real run would, and creates nothing.

    Returns (content, {temporary path: original path}); content is None when
    a path could not be found on its directive's line (a quoted path with
    escapes, a directive over several lines): the caller must not run nginx -t."""
    try:
        tree = _nginx_conf.parse(content, "candidate")
    except _nginx_conf.ParseError:
        return content, {}  # nginx -t reports it; it opens no file of a config it cannot parse
    lines = content.split(b"\n")
    renamed = {}
    for number, (directive, path) in enumerate(_log_files(tree)):
        if os.path.lexists(path) or not os.path.isdir(os.path.dirname(path)):
            continue
        temporary = os.path.join(workdir, "log%d-%s" % (number, os.path.basename(path)))
        index = directive.line - 1
        line = lines[index] if index < len(lines) else b""
        start = line.find(directive.name.encode("utf-8"))
        at = line.find(path.encode("utf-8", "surrogateescape"), start + len(directive.name)) if start >= 0 else -1
        if at < 0:
            return None, renamed
        lines[index] = line[:at] + temporary.encode("utf-8") + line[at + len(path.encode("utf-8", "surrogateescape")):]
        renamed[temporary] = path
    return b"\n".join(lines), renamed


def check_candidate(content, nginx_binary="nginx", shown_name="candidate.conf", runner=None, check_mode=False,
                    stream_modules=None):
    """Validate a conf.d snippet (http context) without touching the live config.

    `content` is str or bytes (a file read as it is, any byte in it). With
    `check_mode`, log files that do not exist yet are not created (see
    `redirect_new_logs`); returns None when that cannot be ensured.
    `stream_modules` (a list, maybe empty): the candidate is a top-level file
    holding a `stream` block, and these include patterns load the modules
    first (ValueError for one that is not an absolute path)."""
    modules = _module_lines(stream_modules) if stream_modules is not None else None
    workdir = tempfile.mkdtemp(prefix="nginx_validate_")
    try:
        candidate = os.path.join(workdir, "candidate.conf")
        if not isinstance(content, (bytes, bytearray)):
            content = content.encode("utf-8", "surrogateescape")
        rename = {candidate: shown_name}
        if check_mode:
            content, logs = redirect_new_logs(bytes(content), workdir)
            if content is None:
                return None
            rename.update(logs)
        with open(candidate, "wb") as handle:
            handle.write(content)
        wrapper = os.path.join(workdir, "wrapper.conf")
        with open(wrapper, "w") as handle:
            if modules is None:
                handle.write(WRAPPER_TEMPLATE.format(workdir=workdir, candidate=candidate))
            else:
                handle.write(STREAM_WRAPPER_TEMPLATE.format(workdir=workdir, candidate=candidate, modules=modules))
        return run_nginx_test(wrapper, nginx_binary, prefix=None if modules is not None else workdir + "/",
                              runner=runner, rename=rename)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check_main_candidate(content, conf_path, nginx_binary="nginx", shown_name=None, runner=None):
    """Validate a whole main config (`nginx.conf`) candidate meant for `conf_path`.

    nginx resolves a relative `include` against the main file's directory,
    so the candidate is written next to the live file, under a hidden
    temporary name no include pattern of a stock layout matches, tested with
    `nginx -t -c`, and removed again: the live file is never touched.
    Returns (NginxTestResult, candidate parse function) -- the parser reads
    the candidate with its includes while it still exists. ValueError names
    `path` when the candidate cannot be written beside it."""
    conf_dir = os.path.dirname(os.path.abspath(conf_path))
    shown_name = shown_name or conf_path
    if not isinstance(content, (bytes, bytearray)):
        content = content.encode("utf-8", "surrogateescape")
    try:
        handle, candidate = tempfile.mkstemp(prefix=".nginx_validate_", suffix=".tmp", dir=conf_dir)
    except OSError as exc:
        raise ValueError("path: cannot write the candidate beside %s: %s" % (conf_path, exc.strerror or exc)) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(candidate, 0o644)
        result = run_nginx_test(candidate, nginx_binary, runner=runner, rename={candidate: shown_name})
        tree, error = None, None
        try:
            tree = _nginx_conf.parse_file(candidate, conf_dir=conf_dir)
            for directive in _nginx_conf.walk(tree):
                if directive.file == candidate:
                    directive.file = shown_name
        except (_nginx_conf.ParseError, OSError) as exc:
            error = exc
        return result, tree, error
    finally:
        try:
            os.unlink(candidate)
        except OSError:
            pass


def nginx_version(nginx_binary="nginx", runner=None):
    """'1.22.1' from `nginx -v`, or None."""
    try:
        rc, out, err = (runner or _subprocess_runner)([nginx_binary, "-v"])
    except OSError:
        return None
    match = _VERSION_RE.search(to_text(out or "") + to_text(err or ""))
    return match.group(1) if match else None


def format_errors(errors):
    """One line per error, as nginx said it, with where."""
    lines = []
    for error in errors:
        where = ""
        if error.get("file"):
            where = "%s:%s: " % (error["file"], error["line"]) if error.get("line") is not None else "%s: " % error["file"]
        lines.append(where + error["message"])
    return lines
