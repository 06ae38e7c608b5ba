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
