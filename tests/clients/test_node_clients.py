"""The JavaScript clients people use, against the real server of conftest.py: each
`*.test.mjs` here runs with `node --test` (installed by `make test` with `npm ci`), and the
graphql-http package audits the server against the GraphQL over HTTP spec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import Deployment

CLIENTS = Path(__file__).parent
OUTPUT = CLIENTS / "output"  # screenshots, the audit's report: for a person to look at
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
AUDIT_COUNTS = {"MUST": 13, "SHOULD": 23}


@pytest.fixture(scope="module")
def node_env(deployment: Deployment) -> dict[str, str]:
    if shutil.which("node") is None:
        pytest.fail("Node.js 20+ is required for the client tests")
    if not (CLIENTS / "node_modules" / ".package-lock.json").exists():
        pytest.fail("tests/clients/node_modules is missing: `make test` installs it (npm ci)")
    OUTPUT.mkdir(exist_ok=True)
    server = deployment.server
    return {
        **os.environ,
        "ORDER_GRAPH_URL": server.http_url,
        "ORDER_GRAPH_WS_URL": server.ws_url,
        "ORDER_GRAPH_KEY": deployment.key,
        "ORDER_GRAPH_STORE": deployment.store,
        "ORDER_GRAPH_STORE_KEY": deployment.store_key,
        "ORDER_GRAPH_OUTPUT": str(OUTPUT),
        "CHROMIUM": CHROMIUM,
    }


def node(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", *args], cwd=CLIENTS, env=env, capture_output=True, text=True, timeout=180
    )


def node_tests(env: dict[str, str], script: str) -> None:
    result = node(env, "--test", "--test-reporter=spec", "--test-timeout=60000", script)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"


def test_the_graphql_ws_client_queries_mutates_follows_and_resumes(
    node_env: dict[str, str],
) -> None:
    node_tests(node_env, "graphql_ws.test.mjs")


def test_apollo_client_over_http_websockets_multipart_and_persisted_queries(
    node_env: dict[str, str],
) -> None:
    node_tests(node_env, "apollo.test.mjs")


def test_the_graphql_sse_client_follows_and_resumes_over_server_sent_events(
    node_env: dict[str, str],
) -> None:
    node_tests(node_env, "sse.test.mjs")


def test_graphiql_in_chromium_runs_a_query_and_a_subscription_offline(
    node_env: dict[str, str],
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    node_tests(node_env, "graphiql.test.mjs")
    assert (OUTPUT / "graphiql-order-full.png").stat().st_size > 0
    assert (OUTPUT / "graphiql-subscription.png").stat().st_size > 0


def test_the_graphql_over_http_audit_passes_every_must_and_should(
    node_env: dict[str, str],
) -> None:
    result = node(node_env, "audit.mjs")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.strip().splitlines()[-1])["results"]
    (OUTPUT / "graphql-http-audit.json").write_text(json.dumps(results, indent=2))
    for level, count in AUDIT_COUNTS.items():
        audits = [r for r in results if r["name"].startswith(f"{level} ")]
        failed = [f"{r['id']} {r['name']}: {r['reason']}" for r in audits if r["status"] != "ok"]
        assert failed == [], failed
        assert len(audits) == count, f"{level}: {len(audits)} audits, {count} expected"
