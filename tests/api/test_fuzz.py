"""Hundreds of generated operations: never a 5xx, a traceback, SQL text or a masked crash."""

from __future__ import annotations

from pathlib import Path

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema
from starlette.testclient import TestClient

from order_graph.app import create_app
from order_graph.config import Settings

SCHEMA = (Path(__file__).parents[2] / "schema.graphql").read_text()
LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "sqlite3", "[SQL:", "Unexpected error")


def strings(*values: str) -> st.SearchStrategy[graphql.ValueNode]:
    return st.sampled_from(values).map(lambda value: graphql.StringValueNode(value=value))


SCALARS = {
    "Decimal": strings("0", "12.50", "-1", "1E+30", "0.001", "NaN", "abc", "99999999999999999999"),
    "DateTime": strings("2026-11-28T09:30:00+00:00", "2026-11-28", "yesterday"),
    "JSON": st.sampled_from(
        [
            graphql.ObjectValueNode(fields=()),
            graphql.StringValueNode(value="x"),
            graphql.IntValueNode(value="1"),
        ]
    ),
}


@pytest.mark.parametrize(("mode", "examples"), [(Mode.POSITIVE, 200), (Mode.NEGATIVE, 100)])
def test_generated_operations_get_clean_answers(
    database_url: str, mode: Mode, examples: int
) -> None:
    # The database is the session's: no generated deadline rule may fire on other tests' orders.
    app = create_app(Settings(database_url=database_url, auth="off", deadline_runner=False))
    with TestClient(app) as client:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(query=from_schema(SCHEMA, custom_scalars=SCALARS, mode=mode))
        def check(query: str) -> None:
            response = client.post("/graphql", json={"query": query})
            assert response.status_code < 500, (query, response.text)
            for leak in LEAKS:
                assert leak not in response.text, (query, response.text)

        check()
        rules = client.post("/graphql", json={"query": "{ deadlines { code } }"}).json()
        for rule in rules["data"]["deadlines"]:
            remove = (
                "mutation($c: String!) { removeDeadline(input: {code: $c}) { errors { code } } }"
            )
            client.post("/graphql", json={"query": remove, "variables": {"c": rule["code"]}})
