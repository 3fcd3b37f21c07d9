"""Checks on every request before a route sees it: the body size, the Host header, CORS.

The Host check defeats DNS rebinding; which hosts and origins to accept is decided by
:mod:`qdup.service.access` (``qdup serve``) or the caller of :func:`qdup.service.app.create_app`.
Refusals are JSON like every other error answer.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from .schemas import error_response

MAX_BODY_BYTES = 64 * 1024


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (declared or streamed) with 413."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body larger than {self.max_bytes} bytes"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and not length.isdigit():
            return await error_response(400, "bad Content-Length header")(scope, receive, send)
        if length is not None and int(length) > self.max_bytes:
            return await error_response(413, too_large)(scope, receive, send)
        # Read the whole (bounded) body first, so a chunked upload cannot exceed the limit.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await error_response(413, too_large)(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


class HostCheck:
    """ASGI middleware: refuse a request whose Host header names no allowed host (400).

    IPv6 literals come bracketed (``[::1]:8000``); ``*.example.com`` allows the subdomains."""

    def __init__(self, app, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            return await self.app(scope, receive, send)
        header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        if name in self.allowed or any(a.startswith("*.") and name.endswith(a[1:]) for a in self.allowed):
            return await self.app(scope, receive, send)
        return await error_response(400, f"Host header {header!r} is not one this server answers "
                                         "(qdup serve --allowed-host)")(scope, receive, send)


def host_name(header: str) -> str:
    """The host of a Host header, without its port: "[::1]:8000" -> "::1", "Forum.example:80" -> "forum.example".

    >>> host_name("[::1]:8000"), host_name("localhost:8000"), host_name("::1")
    ('::1', 'localhost', '::1')
    """
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    name, colon, port = header.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else header


def add_request_checks(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES, cors_origins: tuple[str, ...] = (),
                       allowed_hosts: list[str] | None = None) -> None:
    """Wrap ``app`` in the body limit, CORS for ``cors_origins`` (none: no cross-origin
    calls) and, with ``allowed_hosts`` (None: any Host), the Host check, outermost."""
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    if allowed_hosts is not None:  # outermost: a foreign Host header never reaches a route
        app.add_middleware(HostCheck, allowed_hosts=list(allowed_hosts))
