"""Who is calling, and the one gate that decides what it may do: for reads and writes alike.

Each question has one function, and each answers with a `Decision`:
- ALLOWED: go ahead.
- REFUSED: the caller lacks the scope (or may not create in that store): FORBIDDEN.
- INVISIBLE: the order belongs to a store the caller is not bound to; its existence is not the
  caller's business, so it reads as missing (null, left out of lists, NOT_FOUND for a change).

The scope is decided before any order is loaded; the store once the order is known. An order's
fields go only to a caller that may read it (`shows_order`), whatever operation carries them: a
query, a mutation's payload, an event's `order`.

The use cases turn a refusal into a domain error with `Decision.enforce`; the API's read
resolvers map it to GraphQL in `api/gate.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from order_graph.domain.errors import ErrorCode, Rejected, not_found


class Scope(StrEnum):
    ORDERS_READ = "orders:read"
    ORDERS_CREATE = "orders:create"
    ORDERS_TRANSITION = "orders:transition"
    ORDERS_UPDATE = "orders:update"
    EVENTS_READ = "events:read"
    ADMIN = "admin"


class UnknownScope(ValueError):
    pass


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    scopes = set()
    for name in names:
        try:
            scopes.add(Scope(name.strip()))
        except ValueError:
            known = ", ".join(scope.value for scope in Scope)
            raise UnknownScope(f"Unknown scope {name!r}; known: {known}.") from None
    return frozenset(scopes)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[Scope]
    # None: every store. Otherwise the only stores whose orders this client sees or changes.
    store_ids: frozenset[str] | None = None
    # Only registered documents, sent by id: this client sends no GraphQL text of its own.
    trusted_documents_only: bool = False

    @classmethod
    def trusted(cls, name: str) -> Principal:
        """An all-powerful caller: the service's own jobs, or anyone when auth is off."""
        return cls(name, frozenset({Scope.ADMIN}))


class Answer(Enum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    INVISIBLE = "invisible"


@dataclass(frozen=True, slots=True)
class Decision:
    answer: Answer
    message: str = ""

    @property
    def allowed(self) -> bool:
        return self.answer is Answer.ALLOWED

    def enforce(self, field: Sequence[str] | None = None) -> None:
        """For the use cases: a refusal becomes the command's error, and nothing changes."""
        match self.answer:
            case Answer.ALLOWED:
                return
            case Answer.REFUSED:
                raise Rejected.one(ErrorCode.FORBIDDEN, self.message, field)
            case Answer.INVISIBLE:
                raise not_found()


ALLOWED = Decision(Answer.ALLOWED)
INVISIBLE = Decision(Answer.INVISIBLE)


def may(principal: Principal, scope: Scope) -> Decision:
    """Whether the caller may use the operations of `scope` at all (asked before any loading)."""
    if Scope.ADMIN in principal.scopes or scope in principal.scopes:
        return ALLOWED
    return Decision(Answer.REFUSED, f"This client lacks the scope {scope}.")


def may_on_order(principal: Principal, scope: Scope, store_id: str) -> Decision:
    """Whether the caller may read (`orders:read`) or change an order of `store_id`."""
    decision = may(principal, scope)
    if decision.allowed and not _bound_to(principal, store_id):
        return INVISIBLE
    return decision


def may_create_in(principal: Principal, store_id: str) -> Decision:
    """Creating names its store, so another store is refused, not hidden."""
    decision = may(principal, Scope.ORDERS_CREATE)
    if decision.allowed and not _bound_to(principal, store_id):
        return Decision(Answer.REFUSED, "This client may not create orders for that store.")
    return decision


def may_reuse_external_ref(principal: Principal, store_id: str) -> Decision:
    """createOrder with an externalRef that exists: the existing order is the answer, unless it
    belongs to a store the caller is not bound to (then creating is refused)."""
    if _bound_to(principal, store_id):
        return ALLOWED
    return Decision(
        Answer.REFUSED,
        "This externalRef belongs to an order of a store this client may not see.",
    )


def shows_order(principal: Principal, store_id: str) -> bool:
    """Whether an order's fields may go to the caller, by whatever operation carries them."""
    return may_on_order(principal, Scope.ORDERS_READ, store_id).allowed


def visible_stores(principal: Principal, wanted: Iterable[str] | None) -> list[str] | None:
    """The store filter of a list or an event stream: what was asked for, narrowed to what the
    caller may see (None: every store)."""
    if principal.store_ids is None:
        return None if wanted is None else list(wanted)
    if wanted is None:
        return sorted(principal.store_ids)
    return [store for store in wanted if store in principal.store_ids]


def _bound_to(principal: Principal, store_id: str) -> bool:
    return principal.store_ids is None or store_id in principal.store_ids
