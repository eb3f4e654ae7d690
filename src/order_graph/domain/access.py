"""Who is calling: a registered client application, its scopes and the stores it is bound to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from order_graph.domain.errors import ErrorCode, Rejected


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

    @classmethod
    def trusted(cls, name: str) -> Principal:
        """An all-powerful caller: the service's own jobs, or anyone when auth is off."""
        return cls(name, frozenset({Scope.ADMIN}))

    def has(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: Scope) -> None:
        if not self.has(scope):
            raise Rejected.one(ErrorCode.FORBIDDEN, f"This client lacks the scope {scope}.")

    def sees_store(self, store_id: str) -> bool:
        return self.store_ids is None or store_id in self.store_ids

    def visible_stores(self, wanted: Iterable[str] | None) -> list[str] | None:
        """The store filter to apply: what was asked for, narrowed to what this client may see."""
        if self.store_ids is None:
            return None if wanted is None else list(wanted)
        if wanted is None:
            return sorted(self.store_ids)
        return [store for store in wanted if store in self.store_ids]
