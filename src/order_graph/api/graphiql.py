"""GraphiQL at `GET /graphql`, working offline: its assets come from a package pip installs
(graphene-django-graphiql-static ships React and GraphiQL; nothing of Django is imported), and
from this package (`static/graphiql.js`), never from a CDN.

It opens on a document that explains itself: the three tiers, a query per tier, a subscription
that resumes by cursor, and in the Headers tab the header this server wants (`Authorization`
with authentication on, `X-Client-Id` with it off). Queries and mutations go over HTTP,
subscriptions over a websocket whose `connection_init` carries the Headers tab.
"""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from importlib import resources

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from order_graph.api import http_spec

VENDOR = "graphene_django_graphiql_static"
VENDOR_DIR = "static/graphene_django_graphiql_static"
VENDOR_FILES = {
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "graphiql.min.js": "text/javascript",
}
CACHE = "public, max-age=86400"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>order-graph · GraphiQL</title>
  <link rel="stylesheet" href="graphiql/graphiql.min.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script type="application/json" id="order-graph-config">__CONFIG__</script>
  <script src="graphiql/react.production.min.js"></script>
  <script src="graphiql/react-dom.production.min.js"></script>
  <script src="graphiql/graphiql.min.js"></script>
  <script src="graphiql/order-graph.js"></script>
</body>
</html>
"""

INTRO = """\
# order-graph: the shared order service.
# Browse the schema in Docs (the book icon, left).
#
# __AUTH__
#
# Three tiers (also served at /fragments.graphql):
#   OrderSummary   lists, badges, a kitchen queue
#   OrderStandard  + channel, customer, items
#   OrderFull      + fees, discounts, history...
#
# Run: the play button, then pick an operation.
# Variables: the tab below. A subscription runs
# until you stop it; set $after to the last cursor
# you processed to resume from there.

query OrderList($storeIds: [ID!]) {
  orders(filter: {storeIds: $storeIds}, first: 20) {
    edges { node { ...OrderSummary } }
    pageInfo { hasNextPage endCursor }
  }
}

query OrderCard($id: ID!) {
  order(id: $id) { ...OrderStandard }
}

query OrderDetail($id: ID!) {
  order(id: $id) { ...OrderFull }
}

subscription FollowOrders($storeIds: [ID!], $after: String) {
  orderEvents(filter: {storeIds: $storeIds}, after: $after) {
    cursor type orderId version mainStatus subStatus actor occurredAt
    order { ...OrderSummary }
  }
}

"""
AUTH_ON = """\
Authentication is on: put your API key in the
# Headers tab: {"Authorization": "Bearer og_..."}
# (from `order-graph clients create`), then
# re-fetch the schema (the arrows, bottom left)."""
AUTH_OFF = """\
Authentication is off here: the Headers tab names
# you with X-Client-Id. With it on, send your key:
# {"Authorization": "Bearer og_..."}"""
VARIABLES = '{\n  "storeIds": ["sh-jingan-001"],\n  "id": "T3JkZXI6MQ",\n  "after": null\n}'


def document(fragments: str, auth_required: bool) -> str:
    intro = INTRO.replace("__AUTH__", AUTH_ON if auth_required else AUTH_OFF)
    return intro + "\n".join(line for line in fragments.splitlines() if not line.startswith("#"))


def page(fragments: str, auth_required: bool) -> str:
    header = "Authorization" if auth_required else "X-Client-Id"
    value = "Bearer paste-your-api-key" if auth_required else "graphiql"
    config = {
        "document": document(fragments, auth_required).strip() + "\n",
        "variables": VARIABLES,
        "headers": orjson.dumps({header: value}, option=orjson.OPT_INDENT_2).decode(),
    }
    # `</` would end the script element early: JSON allows it escaped.
    return PAGE.replace("__CONFIG__", orjson.dumps(config).decode().replace("</", "<\\/"))


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str

    def response(self, request: Request) -> Response:
        headers = {"Cache-Control": CACHE, "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, gzip.compress(body, 6, mtime=0), media_type)


def assets() -> dict[str, Asset]:
    vendor = resources.files(VENDOR).joinpath(VENDOR_DIR)
    found = {n: _asset(vendor.joinpath(n).read_bytes(), t) for n, t in VENDOR_FILES.items()}
    own = resources.files("order_graph").joinpath("static", "graphiql.js").read_bytes()
    found["order-graph.js"] = _asset(own, "text/javascript")
    return found


def routes() -> list[Route]:
    """`/graphiql/<file>`: loaded once, on the first request for any of them."""
    loaded: dict[str, Asset] = {}

    async def asset(request: Request) -> Response:
        if not loaded:  # off the event loop: reading and compressing takes a moment
            loaded.update(await asyncio.to_thread(assets))
        found = loaded.get(request.path_params["name"])
        if found is None:
            return Response("Not found", status_code=404, media_type="text/plain")
        return found.response(request)

    return [Route("/graphiql/{name}", asset)]


def wants_page(request: Request) -> bool:
    """A browser's visit, not an operation sent as a GET."""
    accept = request.headers.get("accept", "")
    return "query" not in request.query_params and ("text/html" in accept or "*/*" in accept)


def answer_other(request: Request, html: str | None) -> Response:
    """Anything but a POST: the page for a browser (404 when GraphiQL is off), else 405."""
    if request.method in ("GET", "HEAD") and wants_page(request):
        if html is None:
            return Response("GraphiQL is switched off here.", 404, media_type="text/plain")
        return HTMLResponse(html)
    return http_spec.method_not_allowed()
