"""What a compiled plan works out about its inputs once, at compilation: its cost when no
variable can change it, and whether its variables are plain enough to be coerced without
graphql-core (a sixth of a small read's CPU went to graphql-core's coercion)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
)

from order_graph.api.limits import query_cost

# Variables of these types are never lists: the cost (api/limits.py) looks into variables only
# for list entries and page sizes (an Int may be one).
_LISTLESS = frozenset({"ID", "String", "Boolean"})
INT_RANGE = range(-(2**31), 2**31)

Plain = tuple[tuple[str, str, bool], ...]  # (name, type, non-null) per variable


def static_cost(document: DocumentNode, operation: OperationDefinitionNode) -> int | None:
    """The cost, if it depends on the document alone: every variable is an ID, a String or a
    Boolean (a list, an input object or an Int could change it)."""
    plain = plain_variables(operation)
    if plain is None or any(kind not in _LISTLESS for _, kind, _ in plain):
        return None
    try:
        name = operation.name.value if operation.name else None
        return query_cost(document, name, {})
    except GraphQLError:  # a list literal over its bound: reported per request
        return None


def plain_variables(operation: OperationDefinitionNode) -> Plain | None:
    """The variables, if each is an ID, String, Int or Boolean without a default value."""
    found = []
    for definition in operation.variable_definitions or ():
        kind, non_null = definition.type, False
        if isinstance(kind, NonNullTypeNode):
            kind, non_null = kind.type, True
        if not isinstance(kind, NamedTypeNode) or definition.default_value is not None:
            return None
        name = kind.name.value
        if name not in ("ID", "String", "Int", "Boolean"):
            return None
        found.append((definition.variable.name.value, name, non_null))
    return tuple(found)


def coerced(plain: Plain, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The variables as graphql-core would coerce them, when each is of its type exactly;
    None leaves anything else (an ID given as a number, a missing one, an error) to it."""
    values: dict[str, Any] = {}
    for name, kind, non_null in plain:
        if name not in raw:
            if non_null:
                return None
            continue  # absent and nullable: absent, as graphql-core leaves it
        value = raw[name]
        if value is None:
            if non_null:
                return None
        elif kind in ("ID", "String"):
            if type(value) is not str:
                return None
        elif kind == "Int":
            if type(value) is not int or value not in INT_RANGE:
                return None
        elif type(value) is not bool:
            return None
        values[name] = value
    return values
