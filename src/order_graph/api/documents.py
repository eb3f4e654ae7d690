"""Parsed and validated documents, cached by a hash of their text and bounded by their weight.

Keyed by SHA-256, an entry holds no copy of the text as a key. The cache is bounded by entry
count and by an estimate of the memory each entry holds (its text, which the parsed document
keeps as its source, and its tokens), so neither long comments nor many tokens can grow a
worker without limit. A document is refused before parsing when it is larger than
`max_document_bytes` or nests too deeply (`bounds.document_problem`).
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from graphql import DocumentNode, GraphQLError, Token, parse, validate
from strawberry.extensions import SchemaExtension

from order_graph.api.bounds import document_problem

BYTES_PER_TOKEN = 500  # measured: a parsed document holds about this much per token
MAX_ENTRIES = 1024
MAX_WEIGHT = 64 * 1024 * 1024

V = TypeVar("V")


def document_key(query: str) -> bytes:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).digest()


def weight_of(document: DocumentNode) -> int:
    """An estimate of the memory a parsed document holds: its source text and its tokens."""
    loc = document.loc
    if loc is None:
        return BYTES_PER_TOKEN
    tokens = 0
    token: Token | None = loc.start_token
    while token is not None:
        tokens += 1
        token = token.next
    return len(loc.source.body) + BYTES_PER_TOKEN * tokens


class BoundedCache(Generic[V]):
    """Least recently used first out, past `max_entries` or past `max_weight` in total."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_weight: int = MAX_WEIGHT) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self._entries: OrderedDict[object, tuple[V, int]] = OrderedDict()

    def get(self, key: object) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: object, value: V, weight: int) -> V:
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.weight -= previous[1]
        self._entries[key] = (value, weight)
        self.weight += weight
        while self._entries and (
            len(self._entries) > self.max_entries or self.weight > self.max_weight
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self.weight -= dropped
        return value

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class Entry:
    document: DocumentNode
    errors: tuple[GraphQLError, ...] | None = None  # None: not validated yet


_caches: weakref.WeakKeyDictionary[object, BoundedCache[Entry]] = weakref.WeakKeyDictionary()
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def document_cache(schema: object) -> BoundedCache[Entry]:
    cache = _caches.get(schema)
    if cache is None:
        cache = _caches[schema] = BoundedCache()
    return cache


def _stand_in(operation_name: str | None) -> DocumentNode:
    """A trivial document to carry a refusal through strawberry's pipeline, which reports
    errors of its validation step on every transport (an error raised while parsing would
    escape the websocket transports)."""
    if operation_name is None or not _NAME.fullmatch(operation_name):
        return parse("{ __typename }")
    return parse(f"query {operation_name} {{ __typename }}")


class CachedDocuments(SchemaExtension):
    """Parses and validates each distinct document once, within the bounds above."""

    def __init__(self, max_document_bytes: int, max_tokens: int, hide_suggestions: bool) -> None:
        self.max_document_bytes = max_document_bytes
        self.max_tokens = max_tokens
        self.hide_suggestions = hide_suggestions
        self.key: bytes | None = None
        self.entry: Entry | None = None
        self.refusal: GraphQLError | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query is None or context.graphql_document is not None:
            yield
            return
        encoded = query.encode("utf-8", "surrogatepass")
        self.key = hashlib.sha256(encoded).digest()
        cache = document_cache(context.schema)
        self.entry = cache.get(self.key)
        if self.entry is not None:
            context.graphql_document = self.entry.document
            yield
            return
        problem = document_problem(query, len(encoded), self.max_document_bytes)
        if problem is not None:
            self.refusal = GraphQLError(problem, extensions={"code": "VALIDATION"})
            context.graphql_document = _stand_in(context.operation_name)
            yield
            return
        context.parse_options["max_tokens"] = self.max_tokens
        yield  # strawberry parses, and reports a syntax error as the caller's
        if context.graphql_document is not None:
            document = context.graphql_document
            self.entry = cache.put(self.key, Entry(document), weight_of(document))

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.refusal is not None:
            context.pre_execution_errors = [self.refusal]
        elif self.entry is not None:
            if self.entry.errors is None:
                self.entry.errors = tuple(
                    validate(
                        context.schema._schema,
                        self.entry.document,
                        context.validation_rules,
                        hide_suggestions=self.hide_suggestions,
                    )
                )
            context.pre_execution_errors = list(self.entry.errors)
        yield
