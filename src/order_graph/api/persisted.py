"""Apollo's automatic persisted queries (APQ), over HTTP.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the query; a
server that knows the hash runs the query it stands for, one that does not answers
`PersistedQueryNotFound` (code `PERSISTED_QUERY_NOT_FOUND`), and the client sends the query
with its hash, which registers it. A hash must be the SHA-256 of its query, so nobody can
register another query under it. Each process keeps its own bounded cache (least recently
used first out): a hash registered on another instance costs a client one more round trip.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Any

import orjson

from order_graph.api.http_spec import Refused

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MAX_DOCUMENTS = 2_000
MAX_CHARACTERS = 10_000_000


class PersistedQueries:
    def __init__(
        self, max_documents: int = MAX_DOCUMENTS, max_characters: int = MAX_CHARACTERS
    ) -> None:
        self.max_documents = max_documents
        self.max_characters = max_characters
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._characters = 0

    def resolve(self, body: bytes) -> bytes:
        """The JSON body with its query filled in from the cache, or `body` itself."""
        if b"persistedQuery" not in body:
            return body
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # the view answers a malformed body
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            return body
        digest = _digest(extensions["persistedQuery"])
        query = payload.get("query")
        if query is None:
            known = self._documents.get(digest)
            if known is None:
                raise Refused("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            self._documents.move_to_end(digest)
            return orjson.dumps({**payload, "query": known})
        if isinstance(query, str):
            if hashlib.sha256(query.encode()).hexdigest() != digest:
                raise Refused("The query's SHA-256 is not persistedQuery.sha256Hash.", "VALIDATION")
            self._remember(digest, query)
        return body

    def _remember(self, digest: str, query: str) -> None:
        if digest in self._documents or len(query) > self.max_characters:
            return
        self._documents[digest] = query
        self._characters += len(query)
        while len(self._documents) > self.max_documents or self._characters > self.max_characters:
            _, dropped = self._documents.popitem(last=False)
            self._characters -= len(dropped)


def _digest(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise Refused(
            "Only version 1 of the persisted-query extension is supported.",
            "PERSISTED_QUERY_NOT_SUPPORTED",
        )
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise Refused("persistedQuery.sha256Hash must be a SHA-256 in hex.", "VALIDATION")
    return digest.lower()
