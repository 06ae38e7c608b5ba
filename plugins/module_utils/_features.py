# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the host's nginx can do, by version: one table, read by the model's
check (a named error before any change) and by the renderer (syntax that
changed between versions)."""

from __future__ import annotations

import re
from typing import Optional, Tuple

Version = Tuple[int, int, int]

# feature: (first nginx version that has it, what it is, for the error message)
NGINX_FEATURES = {
    # `http2 on;` replaced `listen ... http2` (the old form warns from 1.25.1).
    "http2_directive": ((1, 25, 1), "the http2 directive"),
    # `server NAME resolve` with a `resolver` in the upstream (open source since 1.27.3).
    "resolve": ((1, 27, 3), "upstream servers re-resolved by DNS"),
    # `sticky cookie` in an upstream (open source since 1.29.6).
    "sticky": ((1, 29, 6), "sticky cookie sessions"),
    # The `drain` server parameter (open source since 1.29.6): clients bound by
    # sticky keep the server, new ones go elsewhere.
    "drain": ((1, 29, 6), "the drain server parameter"),
    # Upstream keepalive and proxy_http_version 1.1 on by default.
    "keepalive_default": ((1, 29, 7), "upstream keepalive by default"),
}

_VERSION_RE = re.compile(r"\A\s*(?:nginx/)?([0-9]{1,4})\.([0-9]{1,4})(?:\.([0-9]{1,4}))?")
# A Debian package version: [epoch:]upstream[-revision]; nginx's upstream part
# is X.Y.Z, perhaps with a repack suffix (+dfsg, ~bookworm) the version ends at.
_PACKAGE_VERSION_RE = re.compile(r"\A(?:[0-9]{1,9}:)?([0-9]{1,4}\.[0-9]{1,4}(?:\.[0-9]{1,4})?)(?:[-+~]|\Z)")


def parse_version(text) -> Optional[Version]:
    """(1, 22, 1) from '1.22.1' or 'nginx/1.22.1'; None when unknown or unreadable."""
    if text is None:
        return None
    if isinstance(text, (tuple, list)):
        parts = tuple(int(part) for part in text[:3])
        return parts + (0,) * (3 - len(parts)) if parts else None
    match = _VERSION_RE.match(str(text))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def upstream_version(package_version) -> Optional[str]:
    """nginx's version in a package's: '1.22.1' from '1.22.1-9+deb12u1',
    '1.30.0' from '1:1.30.0-1' (an epoch), '1.29.6' from '1.29.6-1~bookworm';
    None for anything else (no version, not text, not X.Y[.Z])."""
    if not isinstance(package_version, str):
        return None
    match = _PACKAGE_VERSION_RE.match(package_version)
    return match.group(1) if match else None


def version_text(version: Optional[Version]) -> str:
    return ".".join(str(part) for part in version) if version else "unknown"


def has(feature: str, host_version) -> bool:
    """Whether the host's nginx has the feature. An unknown version (nginx
    not installed yet) counts as having it: the candidate check on the host
    still judges the file before it goes live."""
    version = parse_version(host_version)
    if version is None:
        return True
    return version >= NGINX_FEATURES[feature][0]


def missing(feature: str, host_version, candidate=False) -> Optional[str]:
    """The error text when the host's nginx lacks the feature, else None:
    'needs nginx >= 1.29.6 (sticky cookie sessions), this host has 1.22.1';
    with `candidate` (nginx not installed yet, `host_version` the one its
    package manager would install) '..., this host would install 1.22.1'."""
    if has(feature, host_version):
        return None
    first, what = NGINX_FEATURES[feature]
    return "needs nginx >= %s (%s), this host %s %s" % (version_text(first), what,
                                                        "would install" if candidate else "has",
                                                        version_text(parse_version(host_version)))
