"""Running the service: bind the port, then serve the app with uvicorn until Ctrl-C.

Example::

    >>> serve(qdup.load("models/quora"), Index.load("my-index"), port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
from typing import Callable

import uvicorn

from ..errors import ConfigError
from ..util.threads import use_threads
from .access import Access
from .app import create_app


def serve(model, index, host: str = "127.0.0.1", port: int = 8000, access: Access = Access(),
          cors_origins: tuple[str, ...] = (), allowed_hosts: list[str] | None = None,
          on_listening: Callable[[], None] | None = None, where=None, sock: socket.socket | None = None) -> None:
    """Run the service with uvicorn until Ctrl-C; ``on_listening`` runs once the port is bound
    (the CLI prints its start-up lines there, so a busy port prints only the error).
    ``where``: a filter every search applies (:func:`qdup.service.app.create_app`). ``sock``:
    :func:`listening_socket`'s for ``host:port``, bound before the model and the index loaded."""
    sock = sock or listening_socket(host, port)  # first: a busy port changes nothing in this process
    app = create_app(model, index, access=access, cors_origins=cors_origins, allowed_hosts=allowed_hosts,
                     where=where)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    # One request encodes and searches one short question: extra intra-op threads (torch,
    # BLAS) only add overhead, and with many requests in the thread pool at once they
    # spin against each other (measured: a 50k exact search takes 12 ms with BLAS threads
    # vs 1 ms without). Concurrency comes from the pool instead: one thread per request.
    restore = use_threads(1)
    try:
        if on_listening is not None:
            on_listening()
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        restore()  # an in-process caller (tests, notebooks) gets its thread settings back


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind the port here, so a busy port is one line (not uvicorn's log and exit code 3)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:  # its errno is the resolver's own: os.strerror said "Unknown error -2"
        raise ConfigError(f"cannot listen on {host}:{port} ({host!r} is not an address or a host name this machine "
                          f"resolves: {error.strerror})") from None
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(f"cannot listen on {host}:{port} ({reason})") from None
