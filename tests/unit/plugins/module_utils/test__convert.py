"""The one reading of booleans, integers, nginx times and user names."""

import pytest

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import (
    BOOL_WORDS,
    seconds,
    to_bool,
    to_int,
    to_seconds,
    to_user_name,
)


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("False", False), ("YES", True), ("no", False), ("on", True),
    ("Off", False), ("y", True), ("n", False), ("t", True), ("f", False), ("1", True), ("0", False), (1, True),
    (0, False), (1.0, True), (0.0, False), (" yes ", True),
])
def test_booleans_read_as_ansible_reads_them(value, expected):
    errors = []
    assert to_bool(value, "x.flag", errors) is expected
    assert errors == []


@pytest.mark.parametrize("value", ["maybe", "", "yes please", "2", 2, -1, 1.5, None, [], {}, ["yes"], b"yes"])
def test_anything_else_is_no_boolean_and_the_field_is_named(value):
    errors = []
    assert to_bool(value, "load_balancer_tls.hsts", errors, fallback=True) is True
    assert errors == ["load_balancer_tls.hsts: must be a boolean (%s), got %r" % (BOOL_WORDS, value)]


def test_the_message_lists_exactly_the_strings_ansible_takes():
    listed = set(BOOL_WORDS.replace(" or ", ", ").replace("/", ", ").split(", "))
    assert listed == {word for word in BOOLEANS_TRUE | BOOLEANS_FALSE if isinstance(word, str)}


@pytest.mark.parametrize("value, bounds, expected", [
    (5, None, 5), ("5", None, 5), (" 12 ", None, 12), ("+7", None, 7), ("-3", None, -3), ("007", (1, 10), 7),
    (1000, (1, 1000), 1000), ("0", (0, 86400), 0),
])
def test_integers(value, bounds, expected):
    errors = []
    assert to_int(value, "f", errors, bounds) == expected
    assert errors == []


@pytest.mark.parametrize("value, bounds, message", [
    (True, None, "w: must be an integer, got True"),
    (2.0, None, "w: must be an integer, got 2.0"),
    ("５", None, "w: must be an integer, got '５'"),
    ("1²", None, "w: must be an integer, got '1²'"),
    ("0x10", None, "w: must be an integer, got '0x10'"),
    ("1e3", None, "w: must be an integer, got '1e3'"),
    ("1234567890123", None, "w: must be an integer, got '1234567890123'"),
    ("20480; user root", (512, 1048576), "w: must be an integer 512-1048576, got '20480; user root'"),
    (0, (1, 1000), "w: must be an integer 1-1000, got 0"),
    ("1001", (1, 1000), "w: must be an integer 1-1000, got '1001'"),
    (None, (1, 1000), "w: must be an integer 1-1000, got None"),
])
def test_not_an_integer_names_the_field(value, bounds, message):
    errors = []
    assert to_int(value, "w", errors, bounds) is None
    assert errors == [message]


@pytest.mark.parametrize("text, allow_ms, expected", [
    ("10s", False, 10), ("10", False, 10), ("500ms", True, 0.5), ("2m", True, 120), ("1y", False, 31536000),
    (30, False, 30),
])
def test_seconds(text, allow_ms, expected):
    assert seconds(text, allow_ms) == expected


@pytest.mark.parametrize("text, allow_ms", [("500ms", False), ("1e20", True), ("10 s", True), ("１s", True),
                                            ("10s\n", True), ("", True), ("-1s", True)])
def test_not_a_time(text, allow_ms):
    with pytest.raises(ValueError):
        seconds(text, allow_ms)


@pytest.mark.parametrize("value, bounds, expected, message", [
    ("30s", (1, 86400), 30, None),
    ("1d", (1, 86400), 86400, None),
    ("2d", (1, 86400), None, "t: must be 1-86400 seconds, got '2d'"),
    ("500ms", None, None, "t: must be an nginx time like 10s, got '500ms'"),
    (True, None, None, "t: must be an nginx time like 10s, got True"),
    ([], None, None, "t: must be an nginx time like 10s, got []"),
])
def test_to_seconds_names_the_field(value, bounds, expected, message):
    errors = []
    assert to_seconds(value, "t", errors, bounds, allow_ms=False) == expected
    assert errors == ([message] if message else [])


@pytest.mark.parametrize("value, numeric_id, ok", [
    ("www-data", False, True), ("_app", False, True), ("host$", False, True), ("a" * 32, False, True),
    ("a" * 33, False, False), ("Root", False, False), ("-x", False, False), ("1000", False, False),
    ("1000", True, True), (1000, True, True), (1000, False, False), (True, True, False), ("a b", True, False),
    ("root\n", False, False), ("", False, False), ("12345678901", True, False),
])
def test_user_names(value, numeric_id, ok):
    errors = []
    assert to_user_name(value, "app_servers_user", errors, numeric_id) == (str(value) if ok else None)
    assert all(error.startswith("app_servers_user: must be a user or group name") for error in errors)
    assert bool(errors) is not ok
