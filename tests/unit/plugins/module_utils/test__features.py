# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _features


@pytest.mark.parametrize("text, expected", [
    ("1.22.1", (1, 22, 1)),
    ("nginx/1.30.6", (1, 30, 6)),
    ("1.29", (1, 29, 0)),
    ((1, 26), (1, 26, 0)),
    (None, None),
    ("", None),
    ("openresty", None),
])
def test_parse_version(text, expected):
    assert _features.parse_version(text) == expected


@pytest.mark.parametrize("feature, host, expected", [
    ("sticky", "1.22.1", False),
    ("sticky", "1.29.5", False),
    ("sticky", "1.29.6", True),
    ("sticky", "1.30.6", True),
    ("resolve", "1.26.3", False),
    ("resolve", "1.27.3", True),
    ("http2_directive", "1.25.0", False),
    ("http2_directive", "1.25.1", True),
    ("drain", "1.29.5", False),
    ("drain", "1.30.6", True),
    ("keepalive_default", "1.29.6", False),
    ("keepalive_default", "1.29.7", True),
    ("sticky", None, True),  # not installed yet: the host's own nginx -t judges the candidate
])
def test_has(feature, host, expected):
    assert _features.has(feature, host) is expected


def test_missing_names_both_versions():
    assert _features.missing("sticky", "1.22.1") == \
        "needs nginx >= 1.29.6 (sticky cookie sessions), this host has 1.22.1"
    assert _features.missing("sticky", "1.30.6") is None


def test_unknown_feature_is_a_programming_error():
    with pytest.raises(KeyError):
        _features.has("teleport", "1.30.0")


@pytest.mark.parametrize("package_version, expected", [
    ("1.22.1-9+deb12u1", "1.22.1"),
    ("1.22.1-9+deb12u12", "1.22.1"),
    ("1:1.30.0-1", "1.30.0"),  # an epoch
    ("1.26.3-3+deb13u1~x", "1.26.3"),
    ("1.29.6-1~bookworm", "1.29.6"),  # nginx.org's packages
    ("1.30.6-1", "1.30.6"),
    ("1.22.1", "1.22.1"),  # already nginx's own
    ("1.22.1+dfsg-1", "1.22.1"),  # a repacked source
    ("1.29", "1.29"),
    # Not a version: unknown, never a guess.
    (None, None),
    ("", None),
    ("(none)", None),
    ("garbage", None),
    ("1:", None),
    (":1.22.1-1", None),
    ("x1.22.1-1", None),
    (" 1.22.1-1", None),
    ("1.22.1.1-1", None),  # four parts: no nginx version
    ("1.22.1abc", None),
    ("1.22.1\n1.30.0", None),
    ("12345.1.1-1", None),
    ("1", None),
    (1.22, None),
    (["1.22.1"], None),
])
def test_upstream_version_of_a_package_version(package_version, expected):
    assert _features.upstream_version(package_version) == expected


def test_missing_says_what_a_host_without_nginx_would_install():
    assert _features.missing("sticky", "1.22.1", candidate=True) == \
        "needs nginx >= 1.29.6 (sticky cookie sessions), this host would install 1.22.1"
    assert _features.missing("sticky", "1.30.6", candidate=True) is None
    assert _features.missing("sticky", None, candidate=True) is None
