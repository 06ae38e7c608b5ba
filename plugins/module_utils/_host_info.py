# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only questions to a host, answered in one module run.

A re-run of the roles asked them in one module run each (the package query,
the service user and group, three finds, systemd's loaded units, the state
file, nginx -v); each run costs a process on the host and, with many hosts,
a worker on the controller. host_info answers them together and changes
nothing. The answers come parsed (package versions by name, unit states as
fields, users and groups as dicts), so the roles read fields, never a
command's text.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import USER_NAME_RE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import check_operand, encodable, read_regular

# A state file the roles read is small; anything larger is not ours.
READ_MAX_BYTES = 1024 * 1024
_NGINX_VERSION = re.compile(r"nginx/([0-9][0-9.]*)")
# Values that reach a command line, after its `--`: never an option.
_UNIT_PATTERN = re.compile(r"\A[A-Za-z0-9_.@*:][A-Za-z0-9_.@*:-]{0,199}\Z")
_UNIT_WORDS = "a unit name or glob (letters, digits, _ . @ * : -)"
_PACKAGE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.+:~*-]{0,199}\Z")
_PACKAGE_WORDS = "a package name (letters, digits, _ . + : ~ * -)"
# The package database each manager queries (argv before `--` and the names);
# a line per package - name, status, version - tab-separated.
PACKAGE_QUERIES = {
    "dpkg": ["dpkg-query", "--show", "--showformat", "${Package}\t${db:Status-Abbrev}\t${Version}\n"],
}
# The version each manager would install of a package not yet installed (argv
# before `--` and the names), read in the C locale: apt translates its labels.
# apt-cache writes its binary caches (/var/cache/apt/*pkgcache.bin) when they
# are stale: empty cache paths keep them in memory, so asking changes nothing
# (the dry run of molecule default found the write).
CANDIDATE_QUERIES = {
    "dpkg": ["apt-cache", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "policy"],
}
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "LC_MESSAGES": "C"}
UNITS_QUERY = ["systemctl", "list-units", "--all", "--plain", "--no-legend", "--type=service"]


def user_entry(name):
    """The passwd entry of a user, or None."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    try:
        group = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        group = str(entry.pw_gid)
    return {"name": entry.pw_name, "uid": entry.pw_uid, "group": group, "home": entry.pw_dir,
            "shell": entry.pw_shell}


def group_entry(name):
    """The group entry, or None."""
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return None
    return {"name": entry.gr_name, "gid": entry.gr_gid}


def list_directories(paths):
    """The entries directly in each directory, as find reports them (path,
    isdir, islnk, ctime, mtime); a directory that does not exist has none."""
    files = []
    for directory in paths:
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            is_link = stat.S_ISLNK(info.st_mode)
            is_dir = stat.S_ISDIR(info.st_mode) or (is_link and os.path.isdir(path))
            files.append({"path": path, "isdir": is_dir, "islnk": is_link, "isreg": stat.S_ISREG(info.st_mode),
                          "ctime": info.st_ctime, "mtime": info.st_mtime})
    return files


def read_files(paths):
    """Each small text file's content, or None when it does not exist; a
    path that is not a regular file (a FIFO would block) is refused."""
    contents = {}
    for index, path in enumerate(paths):
        try:
            data = read_regular(path, READ_MAX_BYTES, what="read[%d]" % index)
        except FileNotFoundError:
            contents[path] = None
            continue
        if len(data) > READ_MAX_BYTES:
            raise ValueError("read[%d]: %s is larger than %d bytes" % (index, path, READ_MAX_BYTES))
        contents[path] = data.decode("utf-8", "replace")
    return contents


def nginx_version(stderr):
    """The version `nginx -v` printed, or None."""
    found = _NGINX_VERSION.search(stderr or "")
    return found.group(1) if found else None


def parse_dpkg(stdout, packages):
    """{package: installed version or None} for each package asked (an
    architecture qualifier such as :amd64 is dropped from the key's match);
    a glob's matches appear under their own names."""
    versions = {name: None for name in packages if "*" not in name}
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        name, status, version = fields
        # Status-Abbrev: desired, current, error; current "i" is installed.
        installed = len(status) > 1 and status[1] == "i"
        for key in [asked for asked in versions if asked.split(":")[0] == name] or [name]:
            if installed:
                versions[key] = version
            else:
                versions.setdefault(key, None)
    return versions


def parse_apt_policy(stdout, packages):
    """{package: candidate version or None} for each package asked, from
    `apt-cache policy` (a block per package known to apt: `NAME:` and an
    indented `Candidate: VERSION`, `(none)` when apt has no version to
    install). An unknown package has no block; an architecture qualifier is
    matched like parse_dpkg's; a glob's matches appear under their own names."""
    versions = {name: None for name in packages if "*" not in name}
    keys = []
    for line in stdout.splitlines():
        if line[:1] not in ("", " ", "\t") and line.endswith(":"):
            name = line[:-1]
            keys = [asked for asked in versions if name in (asked, asked.split(":")[0])] or [name]
            for key in keys:
                versions.setdefault(key, None)
            continue
        label, colon, value = line.strip().partition(":")
        if colon and label == "Candidate" and value.strip() not in ("", "(none)"):
            for key in keys:
                versions[key] = value.strip()
    return versions


def parse_units(stdout):
    """systemctl list-units --plain --no-legend lines as dicts: name, load,
    active, sub, description, and of a template's instance (name@instance.type)
    its template and instance (else None)."""
    units = []
    for line in stdout.splitlines():
        fields = line.split(None, 4)
        if len(fields) < 4:
            continue
        name = fields[0]
        template, at, instance = name.rsplit(".", 1)[0].partition("@")
        units.append({"name": name, "load": fields[1], "active": fields[2], "sub": fields[3],
                      "description": fields[4] if len(fields) > 4 else "",
                      "template": template if at else None, "instance": instance if at else None})
    return units


def gather(run, package_manager=None, packages=(), user=None, group=None, directories=(), read=(), units=None,
           nginx=None, candidates=()):
    """Every answer asked for. `run(argv, env=None)` -> (rc, stdout, stderr)
    runs a command without a shell (`env`: variables set for it); `nginx` is
    the path of the binary (or None); `candidates` the packages whose
    installation candidate to ask `package_manager` for.
    Every value is checked before the first command runs."""
    if package_manager is not None and package_manager not in PACKAGE_QUERIES:
        raise ValueError("package_manager: one of %s is required (got %r)" % (", ".join(PACKAGE_QUERIES),
                                                                              package_manager))
    for field, name in (("user", user), ("group", group)):
        if name is not None and not USER_NAME_RE.match(name):
            raise ValueError("%s: %r is not a user or group name (lowercase letters, digits, _ . -)" % (field, name))
    operands = [check_operand("packages[%d]" % index, name, _PACKAGE, _PACKAGE_WORDS)
                for index, name in enumerate(packages)]
    candidate_operands = [check_operand("candidates[%d]" % index, name, _PACKAGE, _PACKAGE_WORDS)
                          for index, name in enumerate(candidates)]
    if units is not None:
        check_operand("units", units, _UNIT_PATTERN, _UNIT_WORDS)
    for field, paths in (("directories", directories), ("read", read)):
        for index, path in enumerate(paths):
            encodable("%s[%d]" % (field, index), path)
    answers = {}
    if package_manager and packages:
        rc, out, err = run(PACKAGE_QUERIES[package_manager] + ["--"] + operands)
        # dpkg-query exits 1 when a package is unknown: still an answer.
        if rc not in (0, 1):
            raise ValueError("package query %s failed (rc %d): %s" % (PACKAGE_QUERIES[package_manager][0], rc, err.strip()[:500]))
        answers["packages"] = parse_dpkg(out, operands)
    if package_manager and candidates:
        query = CANDIDATE_QUERIES[package_manager]
        rc, out, err = run(query + ["--"] + candidate_operands, env=C_LOCALE)
        # An unknown package is no error to apt-cache policy (no block): rc 0.
        if rc != 0:
            raise ValueError("candidate query %s failed (rc %d): %s" % (" ".join(query[:1] + query[-1:]), rc, err.strip()[:500]))
        answers["candidates"] = parse_apt_policy(out, candidate_operands)
    if user is not None:
        answers["user"] = user_entry(user)
    if group is not None:
        answers["group"] = group_entry(group)
    if directories:
        answers["files"] = list_directories(directories)
    if read:
        answers["content"] = read_files(read)
    if units is not None:
        rc, out, err = run(UNITS_QUERY + ["--", units])
        if rc != 0:
            raise ValueError("systemctl list-units failed (rc %d): %s" % (rc, err.strip()[:500]))
        answers["units"] = parse_units(out)
    if nginx is not None:
        if nginx:
            rc, out, err = run([nginx, "-v"])
            answers["nginx_version"] = nginx_version(err + out)
        else:
            answers["nginx_version"] = None
    return answers
