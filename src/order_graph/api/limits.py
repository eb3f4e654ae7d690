"""What no single query may cost, checked before any resolver (and so any database work) runs.

The cost is an estimate of the objects a query can produce, in the spirit of GitHub's node
limit: every selected field counts once per parent object, and a list argument (`first`,
`ids`, `representations`) multiplies what is selected under it. Lists without an argument
count with a fixed estimate of their usual length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

# Default page sizes of the contract, and the usual length of lists that take no argument.
PAGE_DEFAULTS = {"orders": 20, "orderEvents": 100}
LIST_ESTIMATES = {"items": 10, "discounts": 5, "statusHistory": 10, "changes": 1, "lines": 2}


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_cost: int = 50_000
    max_body_bytes: int = 1_000_000


def query_cost(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any]
) -> int:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next(
        (op for op in operations if op.name and op.name.value == operation_name), operations[0]
    )
    return _cost(chosen.selection_set, 1, fragments, variables)


def _cost(
    selection_set: SelectionSetNode,
    multiplier: int,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += multiplier
            if selection.selection_set is not None:
                fan_out = multiplier * _fan_out(selection, variables)
                total += _cost(selection.selection_set, fan_out, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            total += _cost(fragment.selection_set, multiplier, fragments, variables)
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, multiplier, fragments, variables)
    return total


def _fan_out(field: FieldNode, variables: Mapping[str, Any]) -> int:
    name = field.name.value
    arguments = {argument.name.value: argument.value for argument in field.arguments or ()}
    if "first" in arguments:
        value = _value(arguments["first"], variables)
        return value if isinstance(value, int) and value > 0 else PAGE_DEFAULTS.get(name, 1)
    for listed in ("ids", "representations"):  # representations: the subgraph's _entities
        if listed in arguments:
            value = _value(arguments[listed], variables)
            return max(len(value), 1) if isinstance(value, list) else 1
    return PAGE_DEFAULTS.get(name) or LIST_ESTIMATES.get(name, 1)


def _value(node: object, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, ListValueNode):
        return list(node.values)
    return None


class QueryCost(SchemaExtension):
    """Refuses a query over budget, and reports every query's cost in `extensions.cost`."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        self.cost = query_cost(
            context.graphql_document, context.operation_name, context.variables or {}
        )
        if self.cost > self.max_cost:
            raise GraphQLError(
                f"This query may cost {self.cost}, over the limit of {self.max_cost}: "
                "ask for smaller pages (`first`) or fewer fields.",
                extensions={"code": "QUERY_TOO_COSTLY"},
            )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.max_cost}}


_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")


class HideSuggestions(SchemaExtension):
    """In production, "Did you mean …?" hints would map the schema for a prober."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [
            GraphQLError(_SUGGESTION.sub("", e.message), e.nodes, e.source, e.positions, e.path)
            if _SUGGESTION.search(e.message)
            else e
            for e in result.errors
        ]


def has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


class RefuseNul(SchemaExtension):
    """PostgreSQL cannot store U+0000 in text or JSON, so no input may carry it."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query or ""
        if "\x00" in query or "\\u0000" in query or has_nul(context.variables):
            raise GraphQLError(
                "Text must not contain the NUL character (U+0000).",
                extensions={"code": "VALIDATION"},
            )
        yield
