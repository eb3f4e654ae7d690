"""The fast lane: a POSTed query that the compiled path has answered before, or a mutation
whose plan was entered when the executor ran it (compiled_mutations.py), is answered again
without strawberry's HTTP view and extension pipeline.

It applies what that pipeline would. The caller was authenticated by the app before this
runs. The document passed parsing, validation and the depth, alias and token limits when it
entered the plan cache. What depends on the variables (the cost, the bounds on lists, their
depth and NUL characters, their coercion) is checked again here. Anything unusual returns None,
and the regular path answers, errors included. The lane is off while tracing, whose spans come
from the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from strawberry import Schema

from order_graph.api import error_policy
from order_graph.api.bounds import variables_problem
from order_graph.api.compiled import plan_cache, run_compiled
from order_graph.api.context import Context
from order_graph.api.limits import query_cost
from order_graph.ops.metrics import ERRORS, operation_label, served


async def answer(
    request: Request,
    schema: Schema,
    make_context: Callable[[], Awaitable[Context]],
    max_cost: int,
) -> Response | None:
    started = time.perf_counter()
    if request.headers.get("content-type", "").partition(";")[0].strip() != "application/json":
        return None
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    query, name = payload.get("query"), payload.get("operationName")
    variables: Any = payload.get("variables") or {}
    if not isinstance(query, str) or not isinstance(variables, dict):
        return None
    if name is not None and not isinstance(name, str):
        return None
    compiled = plan_cache(schema).get(query, name)
    if compiled is None or variables_problem(variables) is not None:
        return None
    operation = compiled.operation.name.value if compiled.operation.name else None
    cost = compiled.cost
    if cost is None:
        try:
            cost = query_cost(compiled.document, operation, variables)
        except GraphQLError:  # a list over its bound: the executor reports it
            return None
    if cost > max_cost:
        return None
    context = await make_context()  # only now: a miss leaves building it to the executor
    extensions = {"cost": {"requested": cost, "limit": max_cost}}
    outcome = "ok"
    try:
        data = await run_compiled(compiled, schema._schema, context, variables)
    except Exception as exc:  # the database is away (or a mutation failed): masked as usual
        error_policy.record(exc, context.request_id)
        message, codes = error_policy.masked(error_policy.judge(exc), context.request_id)
        ERRORS.labels(codes["code"]).inc()
        body: dict[str, Any] = {"data": None, "errors": [{"message": message, "extensions": codes}]}
        outcome = "error"
    else:
        if data is None:
            return None
        body = {"data": data}
    kind = compiled.operation.operation.value
    requests, latency = served(operation_label(operation), kind, outcome)
    requests.inc()
    latency.observe(time.perf_counter() - started)
    log = {"operation": operation, "client": context.principal.name, "outcome": outcome}
    request.state.log = log
    return Response(orjson.dumps({**body, "extensions": extensions}), media_type="application/json")
