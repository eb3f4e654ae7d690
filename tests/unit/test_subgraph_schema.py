"""The subgraph schema is the public one plus federation, minus subscriptions; the public schema
stays free of federation plumbing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    BreakingChangeType,
    ObjectTypeDefinitionNode,
    build_schema,
    find_breaking_changes,
    parse,
    print_ast,
    validate,
)

from order_graph.api.subgraph import build_subgraph_schema

ROOT = Path(__file__).parents[2]
ENTITIES = {"Order", "Store", "Customer"}


def test_subgraph_file_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "order_graph.cli", "export-schema", "--federation", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_subgraph_keeps_everything_public_but_subscriptions() -> None:
    public = build_schema((ROOT / "schema.graphql").read_text())
    subgraph = build_subgraph_schema()._schema

    changes = find_breaking_changes(public, subgraph)

    assert [(c.type, c.description) for c in changes] == [
        (BreakingChangeType.TYPE_REMOVED, "Subscription was removed.")
    ]


def test_the_subgraph_declares_its_entities_by_id_with_federation_2() -> None:
    text = (ROOT / "subgraph.graphql").read_text()
    keys = {
        d.name.value: [print_ast(directive) for directive in d.directives or ()]
        for d in parse(text).definitions
        if isinstance(d, ObjectTypeDefinitionNode) and d.directives
    }
    assert keys == {name: ['@key(fields: "id")'] for name in ENTITIES}
    assert text.startswith('schema @link(url: "https://specs.apollo.dev/federation/v2.3"')


def test_the_tiers_and_the_references_are_valid_against_the_subgraph() -> None:
    document = parse(
        (ROOT / "fragments.graphql").read_text()
        + "query { orders { edges { node { ...OrderFull store { id } customer { id } } } } }"
    )
    assert validate(build_subgraph_schema()._schema, document) == []


def test_the_public_schema_carries_no_federation_plumbing() -> None:
    public = (ROOT / "schema.graphql").read_text()
    for plumbing in ("@key", "@link", "_entities", "_service", "_Any", "type Store", "Customer"):
        assert plumbing not in public
