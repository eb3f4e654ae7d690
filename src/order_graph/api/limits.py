"""What no single query may cost, checked before any resolver (and so any database work) runs.

The cost is an estimate of the objects a query can produce, in the spirit of GitHub's node
limit: every selected field counts once per parent object, and a list argument (`first`,
`ids`, `representations`) multiplies what is selected under it. Lists without an argument
count with a fixed estimate of their usual length. In queries and subscriptions every entry of a
list argument (a filter's `storeIds`, say) counts once more, and no such list may exceed
`bounds.MAX_LIST_ENTRIES`, but for a router's batch of `representations` (bounded by the
body). The arithmetic saturates, so no input can overflow it.
"""

from __future__ import annotations

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
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from order_graph.api.bounds import MAX_LIST_ENTRIES, ListTooLong, list_entries, variables_problem

# Default page sizes of the contract, and the usual length of lists that take no argument.
PAGE_DEFAULTS = {"orders": 20, "orderEvents": 100}
LIST_ESTIMATES = {"items": 10, "discounts": 5, "statusHistory": 10, "changes": 1, "lines": 2}
MAX_FAN_OUT = 2**31 - 1  # the largest GraphQL Int
MAX_COST = 2**53  # saturation: any cost past this is reported as this (and refused)
# A router sends as many entity representations as its plan needs: the body bounds them.
UNBOUNDED_LISTS = frozenset({"representations"})


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_cost: int = 50_000
    max_body_bytes: int = 1_000_000
    max_document_bytes: int = 32_768


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
    # Mutations bound and report their lists in the domain's validation, with field paths.
    lists = chosen.operation is not OperationType.MUTATION
    try:
        return _cost(chosen.selection_set, 1, fragments, variables, lists)
    except ListTooLong as exc:
        raise GraphQLError(str(exc), extensions={"code": "VALIDATION"}) from None


def _cost(
    selection_set: SelectionSetNode,
    multiplier: int,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    lists: bool,
) -> int:
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += multiplier
            if lists:
                for argument in selection.arguments or ():
                    name = argument.name.value
                    at = f"{selection.name.value}.{name}"
                    limit = None if name in UNBOUNDED_LISTS else MAX_LIST_ENTRIES
                    total += multiplier * list_entries(argument.value, variables, at, limit)
            if selection.selection_set is not None:
                fan_out = min(multiplier * _fan_out(selection, variables), MAX_COST)
                total += _cost(selection.selection_set, fan_out, fragments, variables, lists)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments[selection.name.value]
            total += _cost(fragment.selection_set, multiplier, fragments, variables, lists)
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, multiplier, fragments, variables, lists)
        total = min(total, MAX_COST)
    return total


def _fan_out(field: FieldNode, variables: Mapping[str, Any]) -> int:
    name = field.name.value
    arguments = {argument.name.value: argument.value for argument in field.arguments or ()}
    if "first" in arguments:
        value = _value(arguments["first"], variables)
        # Past the Int range the value is refused when the variables are coerced.
        if isinstance(value, int) and 0 < value <= MAX_FAN_OUT:
            return value
        return PAGE_DEFAULTS.get(name, 1)
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


class BoundInputs(SchemaExtension):
    """Refuses variables that nest too deeply or carry a NUL character, before anything else
    walks them (the cost below, graphql-core's coercion, the resolvers)."""

    def on_execute(self) -> Iterator[None]:
        problem = variables_problem(self.execution_context.variables)
        if problem is not None:
            raise GraphQLError(problem, extensions={"code": "VALIDATION"})
        yield
