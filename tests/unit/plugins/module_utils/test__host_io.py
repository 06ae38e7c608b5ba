"""plugins/module_utils/_host_io.py: reading only regular files, a deadline,
command operands that are never options (run_until starts a process: it is
tested in tests/functional/test_host_info_module.py)."""

import re

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import (
    Deadline, check_deadline, check_operand, encodable, read_regular)

from helpers.not_regular import NOT_REGULAR, fail_after

WORD = re.compile(r"\A[a-z][a-z0-9-]{0,20}\Z")


@pytest.mark.parametrize("limit, size, read", [(None, 10, 10), (4, 10, 5), (4, 4, 4), (0, 3, 1), (10, 0, 0)])
def test_read_regular_reads_at_most_one_byte_beyond_the_limit(tmp_path, limit, size, read):
    path = tmp_path / "f"
    path.write_bytes(b"x" * size)
    assert read_regular(str(path), limit) == b"x" * read


def test_read_regular_lets_a_missing_file_through(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular(str(tmp_path / "missing"))


@pytest.mark.parametrize("make, kind", NOT_REGULAR)
def test_read_regular_names_what_it_refuses(tmp_path, make, kind):
    path = str(tmp_path / "p")
    make(path)
    with fail_after(5), pytest.raises(ValueError, match=r"\Aread\[2\]: %s is %s, not a regular file\Z"
                                      % (re.escape(path), kind)):
        read_regular(path, 10, what="read[2]")


@pytest.mark.parametrize("value", [0, -1, 3600.5, 1e9, float("nan"), float("inf"), True, "60", None])
def test_a_deadline_out_of_range_is_refused_naming_it(value):
    with pytest.raises(ValueError, match=r"\Adeadline: must be more than 0 and at most 3600 seconds"):
        check_deadline(value)


@pytest.mark.parametrize("value", [0.001, 1, 60, 3600])
def test_a_deadline_in_range_is_taken(value):
    assert check_deadline(value) == value


def test_the_deadline_counts_down_from_its_start():
    now = [100.0]
    deadline = Deadline(30, clock=lambda: now[0])
    assert deadline.remaining() == 30
    now[0] = 125.5
    assert deadline.remaining() == 4.5
    now[0] = 140
    assert deadline.remaining() == 0


@pytest.mark.parametrize("value", ["-H", "-", "--", "--host=x", "-x\n", "ok\n", "", None, 7, "UPPER"])
def test_an_operand_that_could_be_an_option_or_is_not_allowed_is_refused(value):
    with pytest.raises(ValueError, match=r"\Aunits: must be a word, not starting with '-', got "):
        check_operand("units", value, WORD, "a word")


def test_the_dash_check_holds_when_the_allow_list_takes_a_dash_first():
    anything = re.compile(r"\A.+\Z")
    assert check_operand("packages[0]", "a-b", anything, "text") == "a-b"
    with pytest.raises(ValueError, match=r"\Apackages\[0\]: "):
        check_operand("packages[0]", "-oDir=/tmp", anything, "text")


@pytest.mark.parametrize("value, data", [("caf\u00e9", b"caf\xc3\xa9"), ("caf\udce9", b"caf\xe9"), ("", b"")])
def test_encodable_gives_the_bytes_text_stands_for(value, data):
    assert encodable("content", value) == data


@pytest.mark.parametrize("value, at", [("\ud800", 0), ("ab\udfff", 2), ("a\udc7f", 1)])
def test_encodable_names_the_field_and_where_no_byte_is_meant(value, at):
    with pytest.raises(ValueError, match=r"\Aread\[0\]: %s at %d stands for no byte" % (re.escape(repr(value[at])), at)):
        encodable("read[0]", value)
