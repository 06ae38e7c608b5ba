# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reading of the scalar values of role variables and module
parameters: booleans, integers, nginx times and user or group names.

Each ``to_*`` takes the value, the field that holds it (a role variable
path like ``load_balancer_tls.hsts``) and a list of errors; it returns the
value read, or appends ``'field: message'`` and returns a fallback, so a
caller collects every problem before anything on a host changes.

Booleans are Ansible's own (``boolean()``, what ``type: bool`` of an
argument spec accepts), so a value means the same in a role's argument
spec, a module parameter and these checks. Integers and times are read from
ASCII digits only (``str.isdigit`` takes '²' and fullwidth digits).
"""

from __future__ import annotations

import re

from ansible.module_utils.parsing.convert_bool import boolean

# An integer written as text: an optional sign, at most 12 ASCII digits.
INT_RE = re.compile(r"\A[+-]?[0-9]{1,12}\Z")
# nginx times: 10s, 500ms, 1h (one number and one unit, as nginx's docs write them).
TIME_RE = re.compile(r"\A(?P<number>[0-9]{1,9})(?P<unit>ms|s|m|h|d|w|M|y)?\Z")
_TIME_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
# A user or group name as useradd and groupadd take it by default (a trailing
# '$' for machine accounts); or, where a numeric id is allowed too, 1-10 digits.
_USER_NAME = r"[a-z_][a-z0-9_.-]{0,31}\$?"
USER_NAME_RE = re.compile(r"\A%s\Z" % _USER_NAME)
USER_OR_ID_RE = re.compile(r"\A(?:%s|[0-9]{1,10})\Z" % _USER_NAME)
# The spellings of a boolean that Ansible's boolean() takes, true one first (for messages).
BOOL_WORDS = "true/false, yes/no, on/off, y/n, t/f, 1/0"


def to_bool(value, field, errors, fallback=False):
    """Ansible's boolean() of `value`: true, yes, on, y, t, 1 (any case) or
    their opposites; `fallback` and an error naming `field` for anything else."""
    if isinstance(value, (str, bool, int, float)):
        try:
            return boolean(value, strict=True)
        except TypeError:
            pass
    errors.append("%s: must be a boolean (%s), got %r" % (field, BOOL_WORDS, value))
    return fallback


def to_int(value, field, errors, bounds=None):
    """An int from an int or from ASCII digits (a sign allowed; spaces around
    ignored), within `bounds` (low, high) when given; None and an error
    naming `field` otherwise. A bool is not an integer here."""
    expected = "an integer %d-%d" % bounds if bounds else "an integer"
    if isinstance(value, bool) or not isinstance(value, (int, str)) or \
            (isinstance(value, str) and not INT_RE.match(value.strip())):
        errors.append("%s: must be %s, got %r" % (field, expected, value))
        return None
    number = int(value)
    if bounds and not bounds[0] <= number <= bounds[1]:
        errors.append("%s: must be %s, got %r" % (field, expected, value))
        return None
    return number


def seconds(text, allow_ms=True):
    """An nginx time -> seconds; ValueError with nginx's rule when it is not one."""
    match = TIME_RE.match(str(text))
    if not match or (match.group("unit") == "ms" and not allow_ms):
        raise ValueError("must be an nginx time like %s, got %r" % ("500ms or 10s" if allow_ms else "10s", text))
    # Without a unit nginx reads seconds.
    return int(match.group("number")) * _TIME_SECONDS[match.group("unit") or "s"]


def to_seconds(value, field, errors, bounds=None, allow_ms=True):
    """The seconds of the nginx time `value`, within `bounds` (low, high
    seconds) when given; None and an error naming `field` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors.append("%s: must be an nginx time like 10s, got %r" % (field, value))
        return None
    try:
        number = seconds(value, allow_ms)
    except ValueError as exc:
        errors.append("%s: %s" % (field, exc))
        return None
    if bounds and not bounds[0] <= number <= bounds[1]:
        errors.append("%s: must be %s-%s seconds, got %r" % (field, bounds[0], bounds[1], value))
        return None
    return number


def to_user_name(value, field, errors, numeric_id=False):
    """A user or group name (or, with `numeric_id`, a uid/gid) as text; None
    and an error naming `field` otherwise."""
    pattern = USER_OR_ID_RE if numeric_id else USER_NAME_RE
    if isinstance(value, bool) or not isinstance(value, (str, int) if numeric_id else str) or \
            not pattern.match(str(value)):
        errors.append("%s: must be a user or group name (a-z, 0-9, _ . -, at most 32, not a digit or '-' first)%s, "
                      "got %r" % (field, " or a numeric id" if numeric_id else "", value))
        return None
    return str(value)
