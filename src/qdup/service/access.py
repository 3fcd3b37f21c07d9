"""Who may do what in the HTTP service: write policy, bearer token, Host and CORS checks.

Reads (search, similarity, get) are open to whoever reaches the server. Writes (add,
delete) follow one :class:`Access` policy:

- ``read-only``: refused (403);
- ``token``: need ``Authorization: Bearer <token>`` (401 otherwise);
- ``open``: anyone who can connect. ``qdup serve`` only picks it when it binds to a
  loopback address and no token is configured.

The token comes from the ``QDUP_TOKEN`` environment variable or a file, never from the
command line (other users of the machine can read command lines in ``ps``).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import ConfigError

TOKEN_ENV = "QDUP_TOKEN"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Access:
    """The write policy: ``mode`` is "open", "token" or "read-only"; ``reason`` says why."""

    mode: str = "open"
    token: str | None = None
    reason: str = ""

    def check_write(self, authorization: str | None) -> tuple[int, str] | None:
        """None when the write may go ahead, else (HTTP status, one-line error)."""
        if self.mode == "read-only":
            return 403, f"this server is read-only ({self.reason})"
        if self.mode == "token":
            scheme, _, given = (authorization or "").partition(" ")
            if scheme.lower() != "bearer":
                return 401, "writes need the header 'Authorization: Bearer <token>'"
            if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return 401, "the bearer token is wrong"
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_file: str | os.PathLike | None) -> str | None:
    """The write token from ``token_file`` or else ``$QDUP_TOKEN``; None when neither is set."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read the token file {token_file} ({getattr(error, 'strerror', None) or error})") from None
        if not token:
            raise ConfigError(f"the token file {token_file} is empty")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    return token or None


def access_for(host: str, read_only: bool, token: str | None) -> Access:
    """The policy ``qdup serve`` applies: without a token, writes only when bound to loopback."""
    if read_only:
        return Access("read-only", None, "started with --read-only")
    if token:
        return Access("token", token, "bearer token required")
    if is_loopback(host):
        return Access("open", None, "no token set; only this machine can connect")
    return Access("read-only", None, f"no token set and listening on {host}; set {TOKEN_ENV} or --token-file")


def accepted_hosts(allowed: Sequence[str], host: str) -> list[str]:
    """The Host headers to accept: ``allowed`` (``--allowed-host``), else :func:`default_hosts`.
    A blank name or a URL is refused: it matches no Host header, so every request was a 400.

    >>> accepted_hosts(["https://forum.example"], "0.0.0.0")
    Traceback (most recent call last):
    ...
    qdup.errors.ConfigError: allowed host 'https://forum.example' is not a host name (say forum.example)
    """
    for name in allowed:
        if not name.strip() or "/" in name or any(c.isspace() for c in name):
            raise ConfigError(f"allowed host {name!r} is not a host name (say forum.example)")
    return list(allowed) or default_hosts(host)


def default_hosts(host: str) -> list[str]:
    """Host headers accepted by default: the bind address and the loopback names.

    Checking Host defeats DNS rebinding (a web page on evil.example resolving to 127.0.0.1).
    """
    unspecified = host in ("0.0.0.0", "::", "")
    return list(dict.fromkeys(([] if unspecified else [host.strip("[]")]) + list(LOCAL_NAMES)))
