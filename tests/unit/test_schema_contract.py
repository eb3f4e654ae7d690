"""The published schema keeps the contract, and the tiers keep theirs.

The contract is the copy in `contract/`, so that any checkout tests on its own; where the
published original sits beside the repository (`../shared/contract`), the copy must equal it."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    build_schema,
    find_breaking_changes,
    parse,
    validate,
)

ROOT = Path(__file__).parents[2]
CONTRACT = ROOT / "contract"
PUBLISHED = ROOT.parent / "shared" / "contract"
TIERS = ("OrderSummary", "OrderStandard", "OrderFull")


def test_schema_file_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "order_graph.cli", "export-schema", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["order-api.graphql", "tiers.graphql"])
def test_the_contract_copy_equals_the_published_contract(name: str) -> None:
    if not PUBLISHED.is_dir():
        pytest.skip(f"no published contract beside this checkout ({PUBLISHED})")
    assert (CONTRACT / name).read_text() == (PUBLISHED / name).read_text(), (
        f"contract/{name} differs from {PUBLISHED / name}: copy the published one in"
    )


def test_schema_breaks_nothing_in_the_contract() -> None:
    contract = build_schema((CONTRACT / "order-api.graphql").read_text())
    ours = build_schema((ROOT / "schema.graphql").read_text())
    assert find_breaking_changes(contract, ours) == []


def test_fragments_are_valid_against_the_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    document = parse(
        (ROOT / "fragments.graphql").read_text() + "query { order(id: 1) { ...OrderFull } }"
    )
    assert validate(schema, document) == []


def _selection(document: DocumentNode, name: str) -> set[str]:
    """Every field path a fragment selects, following the spreads inside it."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def walk(selections: object, prefix: str) -> set[str]:
        paths: set[str] = set()
        for node in selections:  # type: ignore[attr-defined]
            if isinstance(node, FragmentSpreadNode):
                paths |= walk(fragments[node.name.value].selection_set.selections, prefix)
            elif isinstance(node, FieldNode):
                path = f"{prefix}{node.name.value}"
                paths.add(path)
                if node.selection_set:
                    paths |= walk(node.selection_set.selections, path + ".")
        return paths

    return walk(fragments[name].selection_set.selections, "")


@pytest.mark.parametrize("tier", TIERS)
def test_each_tier_selects_at_least_what_the_contract_does(tier: str) -> None:
    ours = parse((ROOT / "fragments.graphql").read_text())
    contract = parse((CONTRACT / "tiers.graphql").read_text())
    assert _selection(contract, tier) <= _selection(ours, tier)


def test_each_tier_includes_the_one_before() -> None:
    ours = parse((ROOT / "fragments.graphql").read_text())
    for smaller, larger in itertools.pairwise(TIERS):
        assert _selection(ours, smaller) < _selection(ours, larger)
