"""Compiling a selection over orders into Python source: GraphQL's field collection, then one
generated function per selection set that builds its response dict in a single expression.

A field so costs a dict slot, not a resolver call. Only GraphQL names (checked by validation)
and the fixed expressions of codegen_fields.py reach the generated source; response keys go in
with repr().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
)

from order_graph.api.codegen_fields import (
    CURRENCY,
    LIST_AT,
    MONEY,
    NAMESPACE,
    SCALARS,
    SIGNATURES,
    VERSION,
    at,
)

Fields = dict[str, list[FieldNode]]
Build = Callable[..., Any]


class Unsupported(Exception):
    """The document uses something the compiler does not handle: the executor answers."""


# --- Collecting fields the way GraphQL does ----------------------------------------------


def collect(
    selections: Iterable[SelectionNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    type_names: tuple[str, ...],
    into: Fields,
    visited: set[str],
) -> Fields:
    """Response keys in first-seen order, each with every field node merged under it."""
    for selection in selections:
        if selection.directives:
            raise Unsupported("directives")
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            into.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or condition.name.value in type_names:
                collect(selection.selection_set.selections, fragments, type_names, into, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments[name]
            if fragment.type_condition.name.value in type_names:
                collect(fragment.selection_set.selections, fragments, type_names, into, visited)
    return into


def subfields(
    nodes: list[FieldNode], fragments: Mapping[str, FragmentDefinitionNode], type_name: str
) -> Fields:
    into: Fields = {}
    visited: set[str] = set()
    names = (type_name, "Node") if type_name == "Order" else (type_name,)
    for node in nodes:
        if node.selection_set is None:
            raise Unsupported("a composite field without a selection")
        collect(node.selection_set.selections, fragments, names, into, visited)
    return into


# --- Code generation ----------------------------------------------------------------------


class Emitter:
    """Writes one function per selection set and compiles them together."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.needs: set[str] = set()
        self.sources: list[str] = []

    def function(self, type_name: str, nodes: list[FieldNode]) -> str:
        name = f"build_{len(self.sources)}"
        self.sources.append("")  # reserve the slot: nested functions are written first
        index = len(self.sources) - 1
        body = self._object(type_name, subfields(nodes, self.fragments, type_name))
        self.sources[index] = f"def {name}({SIGNATURES[type_name]}):\n    return {body}\n"
        return name

    def _object(self, type_name: str, fields: Fields) -> str:
        entries = [f"{key!r}: {self._field(type_name, nodes)}" for key, nodes in fields.items()]
        return "{" + ", ".join(entries) + "}"

    def _field(self, type_name: str, nodes: list[FieldNode]) -> str:
        name = nodes[0].name.value
        if name == "__typename":
            return repr(type_name)
        if name in SCALARS.get(type_name, {}):
            return SCALARS[type_name][name]
        if name in MONEY.get(type_name, {}):
            minor, currency = MONEY[type_name][name]
            return self._money(nodes, minor, currency)
        composite = (type_name, name)
        if composite == ("Order", "externalRef"):
            ref = self._object("ExternalRef", subfields(nodes, self.fragments, "ExternalRef"))
            platform, order_id = at("o.external_platform"), at("o.external_order_id")
            return f"(None if {platform} is None or {order_id} is None else {ref})"
        if composite == ("Order", "items"):
            self.needs.add("items")
            item = self.function("OrderItem", nodes)
            return f"[{item}(i, {CURRENCY}) for i in o[{LIST_AT['items']}]]"
        if composite == ("Order", "discounts"):
            self.needs.add("discounts")
            discount = self.function("OrderDiscount", nodes)
            return f"[{discount}(d, {CURRENCY}) for d in o[{LIST_AT['discounts']}]]"
        if composite == ("Order", "statusHistory"):
            # As the resolver does: an order replayed for a retry shows history to its version.
            self.needs.add("history")
            change = self.function("StatusChange", nodes)
            version = at("h.version")
            history = f"o[{LIST_AT['history']}]"
            return f"[{change}(h) for h in {history} if {version} <= {VERSION}]"
        if composite == ("Order", "changes"):
            self.needs.add("changes")
            change = self.function("OrderChange", nodes)
            version = at("x.version")
            changes = f"o[{LIST_AT['changes']}]"
            return f"[{change}(x, {CURRENCY}) for x in {changes} if {version} <= {VERSION}]"
        if composite == ("OrderChange", "lines"):
            line = self.function("OrderChangeLine", nodes)
            return f"[{line}(ln, cur) for ln in {at('x.lines')}]"
        if composite == ("OrderChange", "discounts"):
            discount = self.function("OrderChangeDiscount", nodes)
            given = at("x.discounts")
            return f"(None if {given} is None else [{discount}(g, cur) for g in {given}])"
        if composite == ("OrderChange", "refundAmount"):
            amount = at("x.refund_amount")
            refund = self._money(nodes, amount, "cur")
            return f"(None if {amount} is None else {refund})"
        if composite == ("OrderEdge", "node"):
            return f"{self.function('Order', nodes)}(r)"
        if composite == ("OrderConnection", "edges"):
            return f"[{self.function('OrderEdge', nodes)}(r) for r in p[0]]"
        if composite == ("OrderConnection", "pageInfo"):
            return self._object("PageInfo", subfields(nodes, self.fragments, "PageInfo"))
        raise Unsupported(f"{type_name}.{name}")

    def _money(self, nodes: list[FieldNode], minor: str, currency: str) -> str:
        expressions = {"amount": f"fmt({minor}, {currency})", "currency": currency}
        entries = []
        for key, money_nodes in subfields(nodes, self.fragments, "Money").items():
            name = money_nodes[0].name.value
            if name == "__typename":
                entries.append(f"{key!r}: 'Money'")
            elif name in expressions:
                entries.append(f"{key!r}: {expressions[name]}")
            else:
                raise Unsupported(f"Money.{name}")
        return "{" + ", ".join(entries) + "}"

    def compile(self) -> dict[str, Build]:
        namespace: dict[str, Any] = dict(NAMESPACE)
        exec(compile("\n".join(self.sources), "<compiled query>", "exec"), namespace)
        return {name: namespace[name] for name in namespace if name.startswith("build_")}


def chosen_operation(
    document: DocumentNode, operation_name: str | None, kind: OperationType
) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]] | None:
    """The operation a request runs, when it is of `kind`, with the document's fragments;
    None otherwise (the standard executor answers, and reports what is wrong)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    if len(chosen) != 1 or chosen[0].operation is not kind:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return chosen[0], fragments
