"""An operator's upkeep of an index folder: ``qdup index check`` and ``qdup index compact``."""

from __future__ import annotations

import click

from . import counted
from .search_commands import index

# As in search_commands: each command imports the index when it runs.


@index.command("check")
@click.argument("index_path", metavar="INDEX", type=click.Path())
def check(index_path):
    """Read every file of an index and check it against the checksums its manifest records
    (loading checks only file sizes and what it reads whole anyway). Exit 1 when damaged.

    \b
    Example:
      qdup index check my-index
    """
    from ..search.index import Index

    opened = Index.load(index_path)
    click.echo(f"{index_path}: ok, {counted(len(opened), 'question')}; {opened.check()}")


@index.command("compact")
@click.argument("index_path", metavar="INDEX", type=click.Path())
def compact(index_path):
    """Rewrite a local index as one segment: the rows of removed questions dropped, the
    character n-gram postings made as this version makes them (an index keeps those it was
    written with until then), its graph, if it has one, built anew. Searches go on
    meanwhile; other writers wait. No question is encoded again: minutes at a million questions.

    \b
    Example:
      qdup index compact my-index
    """
    from ..search.index import Index

    opened = Index.load(index_path)
    done = "compacted" if opened.compact(progress=True) else "already compact, left as it was"
    click.echo(f"{index_path}: {done}, {counted(len(opened), 'question')} in one segment")
