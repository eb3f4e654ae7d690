"""Documents sent by id: trusted documents (`documentId`) and Apollo's automatic persisted
queries (APQ), over HTTP. `TrustedDocuments.resolve` is the one place that turns a body that
names its document into one that carries it, before any GraphQL machinery sees the request.

Trusted documents (GraphQL over HTTP's persisted documents): a client sends
`{"documentId": "sha256:<hex>", "variables": …}`, and the server runs the document registered
under that id: an official one (`official.py`) or one an admin registered with
`order-graph documents register FILE` (stored in the database, so every process knows it; an
id is the SHA-256 of the text, so it can never stand for another text). An unknown id is
refused with PERSISTED_QUERY_NOT_FOUND (HTTP 400). A client created or set with
`--trusted-documents-only` may send nothing else: any other document is refused with
TRUSTED_DOCUMENTS_ONLY (HTTP 403), and may not open a websocket, whose messages carry text
(it subscribes over HTTP, with graphql-sse or multipart, by documentId). A registered text
is parsed and validated the first time a process runs it and then comes from the document
cache, like any repeated document.

APQ:
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
from strawberry.exceptions import ConnectionRejectionError

from order_graph.api.documents import BoundedCache
from order_graph.api.http_spec import Refused
from order_graph.api.official import document_id, official_documents
from order_graph.domain.access import Principal
from order_graph.storage import documents
from order_graph.storage.database import Database

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
DOCUMENT_ID = re.compile(r"sha256:([0-9a-fA-F]{64})")
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


class TrustedDocuments:
    """Resolves `documentId`, then APQ, and holds a restricted client to registered documents."""

    def __init__(self, db: Database, apq: PersistedQueries | None = None) -> None:
        self.db = db
        self.apq = apq or PersistedQueries()
        self._official = official_documents()
        # Registered texts, by id, as this process has read them: an id's text never changes.
        self._registered: BoundedCache[str] = BoundedCache(MAX_DOCUMENTS, MAX_CHARACTERS)

    async def resolve(self, body: bytes, principal: Principal) -> bytes:
        """The JSON body with the query its id stands for, or `body` itself."""
        restricted = principal.trusted_documents_only
        if b"documentId" not in body and not restricted:
            return self.apq.resolve(body)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            if restricted:
                raise _only_registered()
            return body  # the view answers a malformed body
        if "documentId" in payload:
            if payload.get("query") is not None:
                raise Refused("Send a documentId or a query, not both.", "BAD_REQUEST", 400)
            digest = _document_id(payload.pop("documentId"))
            text = await self.text_of(digest)
            if text is None:
                raise Refused(
                    f"No document is registered as sha256:{digest}.",
                    "PERSISTED_QUERY_NOT_FOUND",
                    400,
                )
            return orjson.dumps({**payload, "query": text})
        resolved = self.apq.resolve(body)
        if restricted:
            query = orjson.loads(resolved).get("query")
            if not isinstance(query, str) or await self.text_of(document_id(query)) is None:
                raise _only_registered()
        return resolved

    async def text_of(self, digest: str) -> str | None:
        """The text registered under this id (hex), if any."""
        text = self._official.get(digest) or self._registered.get(digest)
        if text is not None:
            return text
        async with self.db.read() as conn:
            text = await documents.body_of(conn, digest)
        if text is not None:
            self._registered.put(digest, text, len(text))
        return text


def refuse_websocket(principal: Principal) -> None:
    """A websocket's operations carry their text: not for a client held to registered ones."""
    if principal.trusted_documents_only:
        raise ConnectionRejectionError(
            {
                "message": "This client may send registered documents only: subscribe over "
                "HTTP (graphql-sse or multipart) with their documentId.",
                "code": "TRUSTED_DOCUMENTS_ONLY",
            }
        )


def _document_id(value: Any) -> str:
    found = DOCUMENT_ID.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise Refused("A documentId is `sha256:` and 64 hex digits.", "VALIDATION", 400)
    return found.group(1).lower()


def _only_registered() -> Refused:
    return Refused(
        "This client may send registered documents only: send their documentId "
        "(`order-graph documents list`).",
        "TRUSTED_DOCUMENTS_ONLY",
        403,
    )
