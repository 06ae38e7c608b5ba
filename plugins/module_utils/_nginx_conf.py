# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one nginx configuration parser of the collection.

Text -> a tree of `Directive(name, args, line, file, block)`. It knows
nginx's lexical rules (comments, quotes with escapes, `${var}`, blocks), not
its directive table: context and argument checks are `nginx -t`'s job.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Optional


class ParseError(ValueError):
    def __init__(self, message, file=None, line=None):
        self.file = file
        self.line = line
        super().__init__("%s in %s:%s" % (message, file, line))


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
    """Parse config text into a list of Directives; raises ParseError."""
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
                raise ParseError("missing ';' after %r" % words[0], file, first_line)
            if len(stack) == 1:
                raise ParseError("unexpected '}'", file, line)
            stack.pop()
        words = []
    if words:
        raise ParseError("missing ';' after %r" % words[0], file, first_line)
    if len(stack) > 1:
        opener = stack[-1][1]
        raise ParseError("unclosed block %r opened" % opener.name, file, opener.line)
    return root


def parse_file(path, follow_includes=True, conf_dir=None, _depth=0):
    """Parse a file; `include` globs are replaced in place by what they
    include. Relative ones resolve against `conf_dir` (nginx's conf prefix:
    the main file's directory), also in included files."""
    if _depth > 20:
        raise ParseError("include nesting deeper than 20", path, None)
    with open(path) as handle:
        tree = parse(handle.read(), path)
    if follow_includes:
        tree = _expand_includes(tree, conf_dir or os.path.dirname(os.path.abspath(path)), _depth)
    return tree


def _expand_includes(tree, conf_dir, depth):
    expanded = []
    for directive in tree:
        if directive.name == "include" and directive.args and directive.block is None:
            pattern = directive.args[0]
            if not os.path.isabs(pattern):
                pattern = os.path.join(conf_dir, pattern)
            for included in sorted(glob.glob(pattern)):
                expanded.extend(parse_file(included, True, conf_dir, depth + 1))
            continue
        if directive.block is not None:
            directive.block = _expand_includes(directive.block, conf_dir, depth)
        expanded.append(directive)
    return expanded


def walk(tree):
    """Every directive, depth first."""
    for directive in tree:
        yield directive
        if directive.block:
            yield from walk(directive.block)


def find_all(tree, name):
    return [directive for directive in walk(tree) if directive.name == name]
