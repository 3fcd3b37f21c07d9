"""`qdup serve`: the HTTP API and the search page over an index."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from . import cli, where_option
from .search_commands import MODEL_HELP

if TYPE_CHECKING:
    from ..search.index import Index


@cli.command()
@click.option("--index", "index_path", required=True, type=click.Path(), help="Index folder to search and add to.")
@click.option("--model", "model_path", type=click.Path(), help=MODEL_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--read-only", is_flag=True, help="Refuse every write (add, delete).")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File holding the bearer token that writes need [default: $QDUP_TOKEN].")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Web origin allowed to call the API from a browser (repeatable), e.g. https://forum.example.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Host header to accept (repeatable) [default: the --host address and localhost names].")
@where_option("Every search shows only questions")
def serve(index_path, model_path, host, port, read_only, token_file, cors_origins, allowed_hosts, where):
    """Serve the HTTP API and the search-as-you-type page at http://HOST:PORT/.

    Writes need the bearer token from $QDUP_TOKEN or --token-file; with no token they are
    allowed only when listening on loopback (127.0.0.1), and refused otherwise.

    \b
    Example:
      qdup serve --index my-index --port 8000
      QDUP_TOKEN=s3cret qdup serve --index my-index --host 0.0.0.0 --allowed-host forum.example
      qdup serve --index my-index --read-only --where status!=deleted
    """
    from ..search.index import Index

    from ..service import server  # FastAPI and uvicorn load only for this command
    from ..service.access import accepted_hosts, access_for, read_token

    access = access_for(host, read_only, read_token(token_file))
    hosts = accepted_hosts(allowed_hosts, host)
    # Bound first: a busy port or an unknown host is one line, not one after seconds of loading.
    with server.listening_socket(host, port) as sock:
        opened = Index.load(index_path)
        loaded = opened.model(model_path)
        shown_host = f"[{host}]" if ":" in host else host

        def announce() -> None:  # once the port is bound: a busy port prints only the error
            click.echo(f"qdup serving http://{shown_host}:{port}/  index {index_path} ({len(opened)} questions)  "
                       f"model {_model_name(opened, model_path)} ({loaded.fingerprint[:12]})")
            click.echo(f"writes: {access.mode} ({access.reason}); accepted Host headers: {', '.join(hosts)}"
                       + (f"; CORS origins: {', '.join(cors_origins)}" if cors_origins else "")
                       + (f"; every search: {where}" if where else ""))

        server.serve(loaded, opened, host=host, port=port, access=access, cors_origins=tuple(cors_origins),
                     allowed_hosts=hosts, on_listening=announce, where=where, sock=sock)


def _model_name(index: Index, model_path: str | None) -> str:
    if model_path is not None:
        return model_path
    return index.model_path if index.model_path and os.path.isdir(index.model_path) else "built-in"
