"""The "milvus" backend: rows in a Milvus collection, reached through ``pymilvus``.

The same client code talks to Milvus Lite (``./questions.db``, a local engine for
development), to Milvus Lite's gRPC server (``milvus-lite server``) and to Milvus
Standalone or Distributed (``http://host:19530``); connecting is :mod:`qdup.search.milvus.client`,
the collection's schema and properties :mod:`qdup.search.milvus.collection`.

One collection row per question::

    row       INT64 primary key, chosen by qdup (the manifest's ``next_row``)
    gen       INT64 index generation that added the row
    qid       VARCHAR the question's id
    question  VARCHAR the question
    metadata  JSON url, title... ({} when none)
    vector    FLOAT_VECTOR unit vector of the model; HNSW, inner product
    chars     SPARSE_FLOAT_VECTOR the model's char n-gram TF-IDF row (only for a scorer
              that reads words); sparse inverted index, inner product = its cosine

So the words side of hybrid search runs in Milvus too, on the model's own lexical rows,
and the text lives in one place. Milvus has no transactions: an add inserts rows tagged
with the next generation, and every read filters ``gen <= `` the committed generation,
so rows of an add that failed half way are never seen (and the next add deletes them).
The collection records the model fingerprint and is refused by another model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ...data.forum import as_stored_now
from ...errors import ChangedDuringSearchError, DataError
from ...text.lexical import LexicalRows, LexicalStats
from ..filters import Filter, milvus_literal
from ..topk import HNSW_EF_SEARCH, empty_topk
from .census import check_count, opened, removed, visible
from .client import calls, check_options, connect  # check_options: the backend seam's
from .collection import (BUILDING, CHECKPOINT, FINGERPRINT, REPLACES, Build, check_text, create_collection, family,
                         has_chars, properties, replaced, sparse, wait_indexed)

CHUNK_ROWS = 10_000      # questions a streamed build encodes and stores at a time
INDEX_WAIT_S = 600.0     # a build waits this long at most for Milvus to index what it stored
TIMEOUT_S = 30.0         # per call: a server that went away fails a search instead of hanging it
FLUSH_TIMEOUT_S = 600.0  # a flush seals and indexes what was inserted: a minute for 100,000 rows on Lite
INSERT_ROWS = 2_000      # rows per insert call: bounded request size (gRPC's limit is 64 MB)
FILTER_VALUES = 1_000    # values per "in [...]" filter
# Queries per search call. Milvus Lite searches in Python (about 0.2 s a query at 20,000
# rows with hybrid candidates): 117 queries in one call overran TIMEOUT_S.
SEARCH_QUERIES = 16


def create(folder: Path, manifest: dict, options: dict, force: bool, resume_key: str | None) -> "MilvusStore":
    """A store for a new build of the ``collection`` family: a build of the same input killed
    half way is continued; otherwise a new collection is made (by the first add), and the
    family's others are dropped once the build is committed (:meth:`MilvusStore.settle`)."""
    uri, name = check_options(options)
    client = connect(uri)
    with calls(uri):
        found = family(client, name)
        if name not in found and client.has_collection(name):
            raise DataError(f"Milvus collection {name!r} at {uri} exists and is not a qdup collection; "
                            "choose another --collection")
        for collection, props in found.items():
            if resume_key and props.get(BUILDING) == resume_key:  # the same build, killed half way
                others = [c for c in found if c != collection]
                client.alter_collection_properties(collection, {REPLACES: json.dumps(others)}, timeout=TIMEOUT_S)
                client.load_collection(collection)
                manifest.update(milvus={"uri": uri, "collection": collection}, next_row=0)
                build = Build(name, resume_key, json.loads(props.get(CHECKPOINT) or "null"))
                return MilvusStore(client, manifest, has_chars(client, collection), build, others)
        if found and not force:
            props = found.get(name) or next(iter(found.values()))
            what = "an unfinished build of other input" if props.get(BUILDING) else \
                f"model {str(props.get(FINGERPRINT))[:12]}"
            raise DataError(f"Milvus collection {name!r} at {uri} already exists ({what}); use --force to replace it")
    # A rebuild never writes into a collection a committed index may still name.
    collection = f"{name}_{manifest['uid'][:8]}" if name in found else name
    manifest.update(milvus={"uri": uri, "collection": collection}, next_row=0)
    return MilvusStore(client, manifest, None, Build(name, resume_key), list(found))  # made by the first add


def open(folder: Path, manifest: dict) -> "MilvusStore":  # noqa: A001 (the seam's verb)
    settings = manifest.get("milvus") or {}
    uri, collection = settings.get("uri"), settings.get("collection")
    if not isinstance(uri, str) or not isinstance(collection, str) or not uri or not collection:
        raise DataError(f"{folder} is damaged: its manifest names no Milvus uri and collection")
    client = connect(uri)
    with calls(uri):
        if not client.has_collection(collection):
            raise DataError(f"Milvus collection {collection!r} does not exist at {uri}; rebuild the index")
        props = properties(client, collection)
        holder = str(props.get(FINGERPRINT, "unknown"))
        if holder != manifest["fingerprint"]:
            raise DataError(f"Milvus collection {collection!r} at {uri} holds model {holder[:12]}, "
                            f"not {manifest['fingerprint'][:12]} of index {folder}; rebuild the index")
        lexical = has_chars(client, collection)
        client.load_collection(collection)
    return opened(MilvusStore(client, manifest, lexical, replaces=replaced(props)), folder, manifest)


class MilvusStore:
    """The rows of one committed generation of a Milvus-backed index."""

    def __init__(self, client, manifest: dict, lexical: bool | None, build: Build | None = None,
                 replaces: Sequence[str] = ()) -> None:
        self.client = client
        self.lexical = lexical  # whether rows carry `chars`; None: no collection made yet
        self.build = build  # during a build only
        self.replaces = list(replaces)  # collections to drop once this build is committed (or were not, yet)
        self.uri, self.collection = manifest["milvus"]["uri"], manifest["milvus"]["collection"]
        self.generation = int(manifest["generation"])
        self.next_row = int(manifest.get("next_row", 0))  # row keys are below it
        # Rows of uncommitted adds stay hidden, and so do removed rows Milvus has not deleted yet.
        self.removing = removed(manifest)
        self.visible = visible(manifest)

    def _search(self, data, field: str, k: int, params: dict, where: Filter | None) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = empty_topk(len(data), k)
        visible = self.visible if where is None else f"{self.visible} and ({where.milvus()})"
        with calls(self.uri):  # a few queries a call: a long batch never runs into one call's deadline
            for start in range(0, len(data), SEARCH_QUERIES):
                hits = self.client.search(self.collection, data=data[start : start + SEARCH_QUERIES], anns_field=field,
                                          limit=k, filter=visible, timeout=TIMEOUT_S,
                                          search_params={"metric_type": "IP", "params": params})
                for n, found in enumerate(hits, start=start):
                    for j, hit in enumerate(found):
                        scores[n, j], rows[n, j] = hit["distance"], hit["row"]
        return scores, rows

    def dense_topk(self, queries: np.ndarray, k: int, where: Filter | None = None,
                   ef: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        params = {"ef": max(ef or HNSW_EF_SEARCH, k)}
        return self._search(np.asarray(queries, np.float32).tolist(), "vector", k, params, where)

    def lexical_topk(self, queries: LexicalRows, k: int, where: Filter | None = None) -> np.ndarray:
        return self._search(sparse(queries.chars), "chars", k, {}, where)[1]

    def _query(self, rows: np.ndarray, fields: list[str]) -> list[dict]:
        """Records of ``rows`` (repeats allowed), in that order."""
        unique = np.unique(rows).tolist()
        found: dict[int, dict] = {}
        with calls(self.uri):
            for start in range(0, len(unique), FILTER_VALUES):
                part = unique[start : start + FILTER_VALUES]
                for r in self.client.query(self.collection, filter=f"row in {part}", output_fields=["row", *fields],
                                           timeout=TIMEOUT_S):
                    found[int(r["row"])] = r
        missing = set(unique) - set(found)
        if missing:  # removed by another writer since this generation was read
            raise ChangedDuringSearchError(f"Milvus collection {self.collection!r} at {self.uri} changed during "
                                           "the search; retry")
        return [found[int(r)] for r in rows]

    def gather(self, rows: np.ndarray, stats: LexicalStats) -> tuple[np.ndarray, LexicalRows]:
        records = self._query(rows, ["vector", "question"])
        vectors = np.array([r["vector"] for r in records], np.float32).reshape(len(records), -1)
        # Recomputed from the stored text: the same function wrote the `chars` field.
        return vectors, stats.rows([r["question"] for r in records])

    def records(self, rows: np.ndarray) -> list[tuple[str, str, dict]]:
        return [(r["qid"], r["question"], as_stored_now(r["metadata"] or {}))
                for r in self._query(rows, ["qid", "question", "metadata"])]

    def find(self, ids: Sequence[str]) -> dict[str, int]:
        found = {}
        ids = list(dict.fromkeys(ids))
        with calls(self.uri):
            for start in range(0, len(ids), FILTER_VALUES):
                values = ", ".join(milvus_literal(i) for i in ids[start : start + FILTER_VALUES])
                for r in self.client.query(self.collection, filter=f"qid in [{values}] and {self.visible}",
                                           output_fields=["row", "qid"], timeout=TIMEOUT_S):
                    found[r["qid"]] = int(r["row"])
        return found

    def live(self) -> tuple[np.ndarray, list[str], list[str], list[dict]]:
        records = []
        with calls(self.uri):  # windows of row keys: plain queries, no server-side cursor
            for start in range(0, self.next_row, INSERT_ROWS):
                window = f"row >= {start} and row < {start + INSERT_ROWS} and {self.visible}"
                records += self.client.query(self.collection, filter=window, timeout=TIMEOUT_S,
                                             output_fields=["row", "qid", "question", "metadata", "vector"])
        records.sort(key=lambda r: r["row"])  # insertion order
        vectors = np.array([r["vector"] for r in records], np.float32)
        return (vectors, [r["qid"] for r in records], [r["question"] for r in records],
                [as_stored_now(r["metadata"] or {}) for r in records])

    def has_lexical(self) -> bool:
        return bool(self.lexical)

    def added(self, folder, manifest, ids, questions, vectors, lexical, metadata, progress=False):
        check_text(questions)
        manifest = {**manifest, "milvus": dict(manifest["milvus"])}
        gen, first = int(manifest["generation"]) + 1, int(manifest["next_row"])
        chars = sparse(lexical.chars) if lexical is not None else None
        with calls(self.uri):
            if self.lexical is None:
                build = self.build or Build(self.collection, None)
                create_collection(self.client, self.collection, manifest, lexical is not None, build.key, build.name,
                                  self.replaces)
            self._delete_uncommitted(gen - 1, folder, manifest)
            for start in range(0, len(ids), INSERT_ROWS):
                stop = min(start + INSERT_ROWS, len(ids))
                self.client.insert(self.collection, [
                    {"row": first + n, "gen": gen, "qid": ids[n], "question": questions[n],
                     "metadata": metadata[n] if metadata else {}, "vector": vectors[n].tolist(),
                     **({"chars": chars[n]} if chars else {})}
                    for n in range(start, stop)], timeout=TIMEOUT_S)
            # Seal the new rows: indexes cover sealed segments only (on Milvus Lite, searching
            # unsealed rows is a Python scan: 150 ms at 5,000 rows instead of 8 ms).
            self.client.flush(self.collection, timeout=FLUSH_TIMEOUT_S)
        manifest.update(generation=gen, next_row=first + len(ids), count=int(manifest["count"]) + len(ids))
        return manifest, self._next(manifest, lexical is not None if self.lexical is None else self.lexical)

    def removed(self, folder, manifest, rows):
        # Milvus has no transactions: the removal is committed first, as rows the manifest
        # hides, and deleted from Milvus after the commit (settle), so a kill at any point
        # leaves the removal either not done or done, and the count right.
        gen = int(manifest["generation"]) + 1
        with calls(self.uri):  # committing gen would show a failed add's rows
            self._delete_uncommitted(gen - 1, folder, manifest)
        settings = {**manifest["milvus"], "removing": sorted({*self.removing, *(int(r) for r in rows)})}
        manifest = {**manifest, "milvus": settings, "generation": gen, "count": int(manifest["count"]) - len(rows)}
        return manifest, self._next(manifest, self.lexical)

    def compacted(self, folder, manifest, progress=False):
        raise DataError(f"{folder} is a Milvus index: Milvus merges its own segments, and removed rows "
                        "are deleted at each write; `qdup index compact` rewrites local indexes")

    def _delete_uncommitted(self, committed: int, folder, manifest: dict) -> None:
        """Delete the rows of writes never committed (a killed add's): those tagged with a
        generation past ``committed``, which the next commit would otherwise show. Every write
        starts here, after :func:`.census.check_count`: a collection that lost rows is refused."""
        check_count(self, folder, manifest)
        self.client.delete(self.collection, filter=f"gen > {committed}", timeout=TIMEOUT_S)

    def _next(self, manifest: dict, lexical: bool | None) -> "MilvusStore":
        return MilvusStore(self.client, manifest, lexical, self.build, self.replaces)

    def settle(self, folder, manifest):
        """After a commit: drop the collections a rebuild replaced; delete removed rows (a
        manifest without them to commit). A failure (server gone) leaves both for the next
        write or load: hidden rows stay hidden meanwhile."""
        try:
            with calls(self.uri):
                if self.replaces:
                    for collection in self.replaces:
                        self.client.drop_collection(collection, timeout=TIMEOUT_S)
                    self.client.alter_collection_properties(self.collection, {REPLACES: "[]"}, timeout=TIMEOUT_S)
                    self.replaces = []
                if not self.removing:
                    return None
                self._delete_uncommitted(self.generation, folder, manifest)  # before the next generation's commit
                for start in range(0, len(self.removing), FILTER_VALUES):
                    part = self.removing[start : start + FILTER_VALUES]
                    self.client.delete(self.collection, filter=f"row in {part}", timeout=TIMEOUT_S)
                self.client.flush(self.collection, timeout=FLUSH_TIMEOUT_S)
        except DataError:
            return None
        settings = {k: v for k, v in manifest["milvus"].items() if k != "removing"}
        manifest = {**manifest, "milvus": settings, "generation": int(manifest["generation"]) + 1}
        return manifest, self._next(manifest, self.lexical)

    def resumed(self, manifest: dict) -> int:
        done = self.build.checkpoint if self.build else None
        if not done:
            return 0
        # Rows past the checkpoint (a half-stored piece) have a later gen: the next add deletes them.
        manifest.update({k: done[k] for k in ("generation", "next_row", "count", "next_auto_id")})
        return int(done["done"])

    def checkpoint(self, manifest: dict, done: int) -> None:
        state = {k: manifest[k] for k in ("generation", "next_row", "count", "next_auto_id")}
        with calls(self.uri):
            self.client.alter_collection_properties(self.collection, {CHECKPOINT: json.dumps({**state, "done": done})},
                                                    timeout=TIMEOUT_S)

    def finished(self, folder, manifest, progress=False):
        if self.lexical is None:
            return manifest, self  # nothing was stored
        with calls(self.uri):
            self.client.alter_collection_properties(self.collection, {BUILDING: "", CHECKPOINT: ""}, timeout=TIMEOUT_S)
            wait_indexed(self.client, self.collection, ("vector", "chars") if self.lexical else ("vector",),
                         INDEX_WAIT_S, TIMEOUT_S)
        return manifest, self

    def files(self, manifest: dict) -> set[str]:
        return set()  # the folder holds only the manifest

    def warm(self) -> int:
        return 0  # open() loaded the collection into Milvus's memory; this process maps no file

    def verify(self, folder, manifest) -> str:
        check_count(self, folder, manifest)
        return f"Milvus collection {self.collection!r} holds the {manifest['count']} questions the manifest counts"

    def describe(self) -> dict:
        return {"uri": self.uri, "collection": self.collection}
