"""Bounds on what a request may carry, checked before anything walks it recursively.

- The document: its size (comments are not tokens, so the token limit alone bounds neither
  memory nor parsing time) and how deeply its brackets nest (the parser recurses per level).
- The variables: how deeply they nest, and no NUL character (PostgreSQL cannot store U+0000).
- The lists in a query's or subscription's arguments (`orderIds`, `storeIds`, `subStatuses`,
  `ids`, ...): at most `MAX_LIST_ENTRIES` each. Mutations bound their lists in the domain's
  validation (500 items, 100 discounts), with field paths.
All walks here are iterative, so no input can exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import (
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)

MAX_DOCUMENT_NESTING = 64
MAX_VARIABLE_DEPTH = 64
MAX_LIST_ENTRIES = 100

NUL_MESSAGE = "Text must not contain the NUL character (U+0000)."

_INTERESTING = re.compile(r'[{}\[\]()"#]')
_LINE_END = re.compile(r"[\n\r]")
_STRING_BODY = re.compile(r'(?:[^"\\\n\r]|\\.)*')


def nesting_depth(text: str, limit: int) -> int:
    """How deeply the brackets of a GraphQL document nest, outside strings and comments; the
    scan stops as soon as it passes `limit`. Linear in the length of the text."""
    depth = deepest = pos = 0
    while (found := _INTERESTING.search(text, pos)) is not None:
        char, pos = found.group(), found.end()
        if char in "{[(":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                break
        elif char in "}])":
            depth = max(depth - 1, 0)
        elif char == "#":
            end = _LINE_END.search(text, pos)
            pos = len(text) if end is None else end.start()
        elif text.startswith('""', pos):  # a block string: only \""" escapes anything
            pos += 2
            while (close := text.find('"""', pos)) != -1 and text[close - 1] == "\\":
                pos = close + 3
            if close == -1:
                break
            pos = close + 3
        else:
            body = _STRING_BODY.match(text, pos)
            pos = (pos if body is None else body.end()) + 1
    return deepest


def document_problem(query: str, size: int, max_bytes: int) -> str | None:
    """Why a document of `size` bytes is refused before parsing, or None."""
    if size > max_bytes:
        return f"The document is {size} bytes, over the limit of {max_bytes}."
    if "\x00" in query or "\\u0000" in query:
        return NUL_MESSAGE
    if nesting_depth(query, MAX_DOCUMENT_NESTING) > MAX_DOCUMENT_NESTING:
        return f"The document nests deeper than {MAX_DOCUMENT_NESTING} levels."
    return None


def variables_problem(variables: object) -> str | None:
    """Why the variables are refused, or None."""
    pending: list[tuple[object, int]] = [(variables, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return NUL_MESSAGE
        elif isinstance(value, dict | list):
            if depth > MAX_VARIABLE_DEPTH:
                return f"The variables nest deeper than {MAX_VARIABLE_DEPTH} levels."
            if isinstance(value, dict):
                if any("\x00" in key for key in value):
                    return NUL_MESSAGE
                value = value.values()
            pending.extend((item, depth + 1) for item in value)
    return None


class ListTooLong(ValueError):
    pass


def list_entries(
    node: ValueNode, variables: Mapping[str, Any], path: str, limit: int | None
) -> int:
    """The entries of every list in an argument value; a list over `limit` raises ListTooLong,
    naming where it is."""
    total = 0
    pending: list[tuple[object, str]] = [(node, path)]
    while pending:
        value, at = pending.pop()
        if isinstance(value, VariableNode):
            value = variables.get(value.name.value)
        if isinstance(value, ListValueNode):
            value = list(value.values)
        elif isinstance(value, ObjectValueNode):
            value = {field.name.value: field.value for field in value.fields}
        if isinstance(value, list):
            if limit is not None and len(value) > limit:
                raise ListTooLong(f"{at} has {len(value)} entries; at most {limit} are allowed.")
            total += len(value)
            pending.extend((item, at) for item in value)
        elif isinstance(value, dict):
            pending.extend((item, f"{at}.{key}") for key, item in value.items())
    return total
