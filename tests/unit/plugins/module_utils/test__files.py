"""A file a module is given is read only when it is a regular file: a FIFO
would block open() for ever, a device would never end."""

import os

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _drain, _files, _golive
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import ParseError, parse_file

from helpers.special_files import KINDS, not_regular


@pytest.mark.parametrize("kind", KINDS)
def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path, kind):
    path = not_regular(tmp_path, kind)
    with pytest.raises(OSError) as caught:
        _files.read_regular(path)
    assert str(caught.value) == "%s: not a regular file (%s)" % (path, kind)


def test_read_regular_reads_a_file_up_to_one_byte_past_the_limit(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert _files.read_regular(str(tmp_path / "f")) == b"x" * 100
    assert _files.read_regular(str(tmp_path / "f"), 10) == b"x" * 11
    with pytest.raises(FileNotFoundError):
        _files.read_regular(str(tmp_path / "missing"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("included", [False, True])
def test_the_config_parser_names_a_file_that_is_not_regular(tmp_path, kind, included):
    path = not_regular(tmp_path, kind)
    main = tmp_path / "nginx.conf"
    main.write_text("include %s;\n" % path)
    with pytest.raises(ParseError) as caught:
        parse_file(str(main) if included else path)
    assert "not a regular file (%s)" % kind in str(caught.value) and path in str(caught.value)


@pytest.mark.parametrize("kind", ["a FIFO", "a regular file", "a link"])
def test_open_new_replaces_whatever_is_there(tmp_path, kind):
    path = str(tmp_path / "new.tmp")
    target = tmp_path / "target"
    target.write_text("keep")
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a link":
        os.symlink(str(target), path)
    else:
        (tmp_path / "new.tmp").write_text("old")
    with _files.open_new(path) as handle:
        handle.write(b"new")
    assert open(path, "rb").read() == b"new" and not os.path.islink(path) and target.read_text() == "keep"


@pytest.mark.parametrize("kind", KINDS)
def test_upstream_server_refuses_host_files_that_are_not_regular_before_a_change(tmp_path, kind):
    path = not_regular(tmp_path, kind)
    with pytest.raises(_drain.DrainError) as caught:
        _drain.read_pid(path)
    assert "not a regular file (%s)" % kind in caught.value.errors[0]
    checked = []
    dummy, failure = _golive.go_live(path, b"upstream a {}\n", checked.append, checked.append)
    assert "cannot read the current file, nothing changed: not a regular file (%s)" % kind in failure
    assert checked == []
