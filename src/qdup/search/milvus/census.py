"""The manifest's count against the rows a Milvus collection shows, before anything trusts
the collection.

A collection can lose rows behind qdup's back: Milvus Lite keeps a collection's file list
in its own ``collections/NAME/manifest.json``, and reads a damaged one (truncated, emptied,
``{}``) as its previous version or as no files at all, silently. The rows are then missing
from every search, and the next flush writes Lite's manifest anew without them and deletes
their files: one ``qdup index add`` and they were gone for good. So every write (under the
folder's lock, where its manifest is the committed one) first counts the rows its
generation shows, and so does every open of a Milvus Lite file. A server is not counted on
open: copies of an index folder serve one server's collection (``--read-only``), and a copy
rightly counts more rows than the collection holds once the writing folder removed some.
Two ``count(*)`` calls: milliseconds (figures in docs/search.md).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from .client import calls, is_server

COUNT_TIMEOUT_S = 600.0  # Lite counts filtered rows by reading them: a killed add of a million rows takes minutes
# Strong: a server counts what was inserted just before (by default it may answer from a slightly older state).
CONSISTENCY = "Strong"


def visible(manifest: dict) -> str:
    """The filter of the rows ``manifest``'s generation shows (every read's): not those of an
    add never committed (a later ``gen``), nor removed rows Milvus has not deleted yet."""
    removing = removed(manifest)
    return f"gen <= {int(manifest['generation'])}" + (f" and row not in {removing}" if removing else "")


def hidden(manifest: dict) -> str:
    """The filter of the other rows: what :func:`visible` leaves out."""
    removing = removed(manifest)
    return f"gen > {int(manifest['generation'])}" + (f" or row in {removing}" if removing else "")


def removed(manifest: dict) -> list[int]:
    """Rows a committed removal hides until Milvus has deleted them."""
    return [int(r) for r in manifest["milvus"].get("removing", [])]


def count_rows(store, where: str) -> int:
    with calls(store.uri):
        [counted] = store.client.query(store.collection, filter=where, output_fields=["count(*)"],
                                       timeout=COUNT_TIMEOUT_S, consistency_level=CONSISTENCY)
    return int(counted["count(*)"])


def check_count(store, folder: Path, manifest: dict) -> int:
    """The rows of ``store``'s collection that ``manifest`` shows, checked against the count
    it records; a mismatch is one line that says what to do (:class:`DataError`). Counted as
    all rows less the hidden ones: Milvus Lite counts rows that pass a filter by reading them
    (0.55 s at 20,000 rows), all rows from its segments' sizes (9 ms), and hidden rows are few."""
    counted = count_rows(store, "") - count_rows(store, hidden(manifest))
    if counted != int(manifest["count"]):
        raise DataError(f"{folder} is damaged: the manifest counts {manifest['count']} questions, Milvus collection "
                        f"{store.collection!r} at {store.uri} holds {counted}; nothing was written: restore the "
                        "collection and this folder from one backup, or rebuild the index with `qdup index build --force`")
    return counted


def opened(store, folder: Path, manifest: dict):
    """``store``, just opened, counted first when it is a Milvus Lite file (see above)."""
    if not is_server(store.uri):
        check_count(store, folder, manifest)
    return store
