"""Headers every response carries: no MIME sniffing, no caching of API answers (unless a route
sets its own `Cache-Control`), and on HTML pages (GraphiQL) no framing by other sites."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = ((b"x-content-type-options", b"nosniff"),)
NO_STORE = (b"cache-control", b"no-store")
# Only what any page of ours can live with: the GraphiQL page may load its own scripts and
# styles however it is built, but no other site may frame it, and it may embed no plugins.
HTML = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'; object-src 'none'; base-uri 'none'"),
)


# What an API answer (no Cache-Control of its own, not HTML) gets: the usual case, one copy.
USUAL = (*ALWAYS, NO_STORE)


def with_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` and ours, in one pass over them: a header the route set itself is kept."""
    names: set[bytes] = set()
    html = False
    for name, value in headers:
        lowered = name.lower()
        names.add(lowered)
        if lowered == b"content-type":
            html = value.startswith(b"text/html")
    if not html and b"cache-control" not in names and b"x-content-type-options" not in names:
        return [*headers, *USUAL]
    added = [header for header in ALWAYS if header[0] not in names]
    if b"cache-control" not in names:
        added.append(NO_STORE)
    if html:
        added.extend(header for header in HTML if header[0] not in names)
    return [*headers, *added]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_headers(message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_with_headers)
