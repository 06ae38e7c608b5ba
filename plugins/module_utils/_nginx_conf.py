# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one nginx configuration parser of the collection.

Text -> a tree of `Directive(name, args, line, file, block)`. It knows
nginx's lexical rules (comments, quotes with escapes, `${var}`, blocks), not
its directive table: context and argument checks are `nginx -t`'s job.

nginx reads bytes and so does this parser: a comment or a string may hold a
byte that is not UTF-8 (a Latin-1 editor's "caf\\xe9"). Files are decoded
with `surrogateescape`, so include globs still find names with such bytes,
and every string of the tree handed back is then made plain text with
`to_text` (such a byte shows as the four characters `\\xe9`): a module
result must be JSON, which a surrogate cannot be.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._files import read_regular

MAX_INCLUDE_DEPTH = 20


def to_text(value):
    """bytes, or a str that may hold surrogate-escaped bytes -> a str that
    encodes as UTF-8. Valid UTF-8 is kept; any other byte becomes `\\xNN`."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that no byte stands for
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _from_bytes(data):
    """Bytes read from a file -> str, every byte kept (surrogateescape)."""
    return data.decode("utf-8", "surrogateescape")


class ParseError(ValueError):
    def __init__(self, message, file=None, line=None, included_from=None):
        self.file = to_text(file)
        self.line = line
        self.included_from = included_from
        self.message = to_text(message)
        text = self.message
        if self.file:
            text += " in %s" % self.file + (":%s" % line if line is not None else "")
        if included_from:
            text += " (included from %s)" % included_from
        super().__init__(text)


@dataclass
class Directive:
    name: str
    args: list
    line: int
    file: str
    block: Optional[list] = None


_SPECIAL = "{};"


def _tokens(text, file):
    """Yield (token, line, quoted); tokens are words or one of '{', '}', ';'."""
    i, line, length = 0, 1, len(text)
    while i < length:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
        elif char.isspace():
            i += 1
        elif char == "#":
            while i < length and text[i] != "\n":
                i += 1
        elif char in _SPECIAL:
            yield char, line, False
            i += 1
        elif char in "\"'":
            start_line, quote, i, word = line, char, i + 1, []
            while i < length and text[i] != quote:
                if text[i] == "\\" and i + 1 < length and text[i + 1] in (quote, "\\"):
                    i += 1
                if text[i] == "\n":
                    line += 1
                word.append(text[i])
                i += 1
            if i >= length:
                raise ParseError("unterminated quoted string", file, start_line)
            i += 1
            yield "".join(word), start_line, True
        else:
            word = []
            while i < length and not text[i].isspace() and text[i] not in _SPECIAL:
                if text[i] == "\\" and i + 1 < length:
                    word.append(text[i:i + 2])
                    i += 2
                    continue
                if text[i] == "$" and i + 1 < length and text[i + 1] == "{":
                    # ${var}: its braces are not blocks.
                    end = text.find("}", i)
                    if end < 0:
                        raise ParseError("unterminated ${ variable", file, line)
                    word.append(text[i:end + 1])
                    i = end + 1
                    continue
                word.append(text[i])
                i += 1
            yield "".join(word), line, False


def parse(text, file="<string>"):
    """Parse config text (str or bytes) into a list of Directives whose
    strings are all plain text; raises ParseError."""
    if isinstance(text, (bytes, bytearray)):
        text = _from_bytes(bytes(text))
    return _as_text(_parse(text, file))


def _parse(text, file):
    root = []
    stack = [(root, None)]  # (children, the directive that opened the block)
    words, first_line = [], None
    for token, line, quoted in _tokens(text, file):
        if quoted or token not in _SPECIAL:
            if not words:
                first_line = line
            words.append(token)
            continue
        if token == ";":
            if not words:
                raise ParseError("unexpected ';'", file, line)
            stack[-1][0].append(Directive(words[0], words[1:], first_line, file))
        elif token == "{":
            if not words:
                raise ParseError("unexpected '{'", file, line)
            directive = Directive(words[0], words[1:], first_line, file, block=[])
            stack[-1][0].append(directive)
            stack.append((directive.block, directive))
        else:  # '}'
            if words:
                raise ParseError("missing ';' after %r" % to_text(words[0]), file, first_line)
            if len(stack) == 1:
                raise ParseError("unexpected '}'", file, line)
            stack.pop()
        words = []
    if words:
        raise ParseError("missing ';' after %r" % to_text(words[0]), file, first_line)
    if len(stack) > 1:
        opener = stack[-1][1]
        raise ParseError("unclosed block %r opened" % to_text(opener.name), file, opener.line)
    return root


def parse_file(path, follow_includes=True, conf_dir=None):
    """Parse a file; `include` globs are replaced in place by what they
    include. Relative ones resolve against `conf_dir` (nginx's conf prefix:
    the main file's directory), also in included files.

    Raises ParseError, also when a file cannot be read (permission, a
    directory matched by a glob) and for an include loop."""
    tree = _parse_file(path, follow_includes, conf_dir or os.path.dirname(os.path.abspath(path)), (), None)
    return _as_text(tree)


def _parse_file(path, follow_includes, conf_dir, chain, included_from):
    """`chain`: (real path, shown name) of the files that include this one;
    `included_from`: (file, line) of the include directive, or None."""
    shown_from = "%s:%s" % included_from if included_from else None
    real = os.path.realpath(path)
    seen_paths = [seen for seen, dummy in chain]
    if real in seen_paths:
        loop = [shown for dummy, shown in chain[seen_paths.index(real):]] + [to_text(path)]
        # Said where the include that closes the loop is.
        raise ParseError("include loop: %s" % " -> ".join(loop), *included_from)
    if len(chain) >= MAX_INCLUDE_DEPTH:
        raise ParseError("include nesting deeper than %d" % MAX_INCLUDE_DEPTH, path, None, shown_from)
    try:
        data = read_regular(path)
    except OSError as exc:
        raise ParseError("cannot read: %s" % (exc.strerror or exc), path, None, shown_from) from exc
    try:
        tree = _parse(_from_bytes(data), path)
    except ParseError as exc:
        if shown_from:
            raise ParseError(exc.message, exc.file, exc.line, shown_from) from exc
        raise
    if follow_includes:
        tree = _expand_includes(tree, conf_dir, chain + ((real, to_text(path)),))
    return tree


def _expand_includes(tree, conf_dir, chain):
    expanded = []
    for directive in tree:
        if directive.name == "include" and directive.args and directive.block is None:
            pattern = directive.args[0]
            if not os.path.isabs(pattern):
                pattern = os.path.join(conf_dir, pattern)
            where = (to_text(directive.file), directive.line)
            for included in sorted(glob.glob(pattern)):
                expanded.extend(_parse_file(included, True, conf_dir, chain, where))
            continue
        if directive.block is not None:
            directive.block = _expand_includes(directive.block, conf_dir, chain)
        expanded.append(directive)
    return expanded


def _as_text(tree):
    """Every string of the tree made plain text (see `to_text`), in place."""
    for directive in walk(tree):
        directive.name = to_text(directive.name)
        directive.args = [to_text(arg) for arg in directive.args]
        directive.file = to_text(directive.file)
    return tree


def walk(tree):
    """Every directive, depth first."""
    for directive in tree:
        yield directive
        if directive.block:
            yield from walk(directive.block)
