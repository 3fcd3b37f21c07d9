"""Reaching Milvus: one ``pymilvus`` client per URI, and every failure as one line.

A URI is a Milvus Lite file (``./questions.db``: pymilvus runs the engine in this
process) or a server (``http://host:19530``: Milvus Lite's ``milvus-lite server``, Milvus
Standalone or Distributed). A server token is read from ``QDUP_MILVUS_TOKEN``, never from
the command line or a file. This module imports pymilvus: the backend registry imports it
only for a Milvus index, and turns a missing pymilvus into an install hint (``qdup[milvus]``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import Iterator

import pymilvus

from ...errors import ConfigError, DataError
from . import lite

TOKEN_ENV = "QDUP_MILVUS_TOKEN"
CONNECT_TIMEOUT_S = 30.0  # a server that does not answer fails the command instead of hanging it
_CLIENTS: dict[str, object] = {}
_SERVER = re.compile(r"^(https?|tcp|unix)://")  # else a Milvus Lite file
DEFAULT_COLLECTION = "questions"
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,245}")  # Milvus names (255), less a rebuild's "_<8 hex>"


# Their own error logs would print tracebacks next to our one-line error.
for _logger in ("pymilvus", "milvus_lite"):
    logging.getLogger(_logger).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def calls(uri: str) -> Iterator[None]:
    """Any client or server failure becomes one line naming the server."""
    try:
        yield
    except pymilvus.exceptions.MilvusException as error:
        message = getattr(error, "message", None) or str(error)
        if "Open local milvus failed" in str(message) and os.path.isdir(uri):
            message += " (a Milvus Lite file is open in another process? Several processes need `milvus-lite server`)"
        raise DataError(f"Milvus at {uri}: {' '.join(str(message).split())}") from None
    except Exception as error:  # grpc errors and the like from a server that went away
        if type(error).__module__.split(".")[0] not in ("grpc", "pymilvus"):
            raise
        code = getattr(error, "code", None)
        what = f"{code().name}: {error.details()}" if callable(code) and hasattr(error, "details") else type(error).__name__
        raise DataError(f"Milvus at {uri}: {' '.join(str(what).split())}") from None


def check_options(options: dict) -> tuple[str, str]:
    """``(uri, collection)`` from the build options, checked."""
    unknown = set(options) - {"uri", "collection"}
    if unknown:
        raise ConfigError(f"the milvus backend takes no {', '.join(sorted(unknown))}")
    uri = check_uri(options.get("uri"))
    collection = options.get("collection") or DEFAULT_COLLECTION
    if not NAME.fullmatch(collection):
        raise ConfigError(f"collection must be letters, digits and _ (not first a digit), got {collection!r}")
    return uri, collection


def check_uri(uri: str | None) -> str:
    """A server address as given, or a Milvus Lite file as an absolute path."""
    if not uri:
        raise ConfigError("the milvus backend needs a uri: a Milvus Lite file (./questions.db) or http://host:19530")
    if _SERVER.match(uri):
        return uri
    if not uri.endswith(".db"):
        raise ConfigError(f"milvus uri must be http(s)://host:port or a Milvus Lite file ending in .db, got {uri!r}")
    return os.path.abspath(uri)


def is_server(uri: str) -> bool:
    """Whether ``uri`` names a server (else a Milvus Lite file, which one process opens at a time)."""
    return bool(_SERVER.match(uri))


def connect(uri: str):
    """The client of ``uri``, made on first use (one per process and URI)."""
    if uri not in _CLIENTS:
        if not is_server(uri):
            lite.repair(uri)  # index files a killed process left half written
        with calls(uri):
            _CLIENTS[uri] = pymilvus.MilvusClient(uri=uri, token=os.environ.get(TOKEN_ENV, ""), timeout=CONNECT_TIMEOUT_S)
    return _CLIENTS[uri]
