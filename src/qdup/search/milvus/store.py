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
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import ConfigError, DataError
from ...text.lexical import LexicalRows, LexicalStats
from ..filters import Filter
from ..topk import HNSW_EF_SEARCH, empty_topk
from .client import calls, check_uri, connect
from .collection import (BUILDING, CHECKPOINT, FINGERPRINT, check_text, create_collection, has_chars, literal, owner,
                         properties, sparse)

DEFAULT_COLLECTION = "questions"
CHUNK_ROWS = 10_000      # questions a streamed build encodes and stores at a time
INDEX_WAIT_S = 600.0     # a build waits this long at most for Milvus to index what it stored
TIMEOUT_S = 30.0         # per call: a server that went away fails a search instead of hanging it
FLUSH_TIMEOUT_S = 600.0  # a flush seals and indexes what was inserted: a minute for 100,000 rows on Lite
INSERT_ROWS = 2_000      # rows per insert call: bounded request size (gRPC's limit is 64 MB)
FILTER_VALUES = 1_000    # values per "in [...]" filter
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # Milvus collection names


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


def create(folder: Path, manifest: dict, options: dict, force: bool, resume_key: str | None) -> "MilvusStore":
    uri, collection = check_options(options)
    manifest.update(milvus={"uri": uri, "collection": collection}, next_row=0)
    client = connect(uri)
    with calls(uri):
        if client.has_collection(collection):
            found = properties(client, collection)
            if resume_key and found.get(BUILDING) == resume_key:  # the same build, killed half way
                lexical = has_chars(client, collection)
                client.load_collection(collection)
                return MilvusStore(client, manifest, lexical, resume_key, json.loads(found.get(CHECKPOINT) or "null"))
            if not force:
                what = "an unfinished build of other input" if found.get(BUILDING) else \
                    f"model {str(found.get(FINGERPRINT))[:12]}"
                raise DataError(f"Milvus collection {collection!r} at {uri} already exists ({what}); "
                                "use --force to replace it")
            client.drop_collection(collection)
    return MilvusStore(client, manifest, None, resume_key)  # the collection is made by the first add


def open(folder: Path, manifest: dict) -> "MilvusStore":  # noqa: A001 (the seam's verb)
    settings = manifest.get("milvus") or {}
    uri, collection = settings.get("uri"), settings.get("collection")
    if not uri or not collection:
        raise DataError(f"{folder} is damaged: its manifest names no Milvus uri and collection")
    client = connect(uri)
    with calls(uri):
        if not client.has_collection(collection):
            raise DataError(f"Milvus collection {collection!r} does not exist at {uri}; rebuild the index")
        holder = owner(client, collection)
        if holder != manifest["fingerprint"]:
            raise DataError(f"Milvus collection {collection!r} at {uri} holds model {holder[:12]}, "
                            f"not {manifest['fingerprint'][:12]} of index {folder}; rebuild the index")
        lexical = has_chars(client, collection)
        client.load_collection(collection)
    return MilvusStore(client, manifest, lexical)


class MilvusStore:
    """The rows of one committed generation of a Milvus-backed index."""

    def __init__(self, client, manifest: dict, lexical: bool | None, building: str | None = None,
                 checkpoint: dict | None = None) -> None:
        self.client = client
        self.lexical = lexical  # whether rows carry `chars`; None: no collection made yet
        self.building, self._checkpoint = building, checkpoint  # a build's input key, and how far it got
        self.uri, self.collection = manifest["milvus"]["uri"], manifest["milvus"]["collection"]
        self.generation = int(manifest["generation"])
        self.next_row = int(manifest.get("next_row", 0))  # row keys are below it
        self.visible = f"gen <= {self.generation}"  # rows of uncommitted adds stay hidden

    def _search(self, data, field: str, k: int, params: dict, where: Filter | None) -> tuple[np.ndarray, np.ndarray]:
        scores, rows = empty_topk(len(data), k)
        if not len(data):
            return scores, rows
        visible = self.visible if where is None else f"{self.visible} and ({where.milvus()})"
        with calls(self.uri):
            hits = self.client.search(self.collection, data=data, anns_field=field, limit=k, filter=visible,
                                      search_params={"metric_type": "IP", "params": params}, timeout=TIMEOUT_S)
        for n, found in enumerate(hits):
            for j, hit in enumerate(found):
                scores[n, j], rows[n, j] = hit["distance"], hit["row"]
        return scores, rows

    def dense_topk(self, queries: np.ndarray, k: int, where: Filter | None = None) -> tuple[np.ndarray, np.ndarray]:
        params = {"ef": max(HNSW_EF_SEARCH, k)}
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
            raise DataError(f"Milvus collection {self.collection!r} at {self.uri} changed during the search; retry")
        return [found[int(r)] for r in rows]

    def gather(self, rows: np.ndarray, stats: LexicalStats) -> tuple[np.ndarray, LexicalRows]:
        records = self._query(rows, ["vector", "question"])
        vectors = np.array([r["vector"] for r in records], np.float32).reshape(len(records), -1)
        # Recomputed from the stored text: the same function wrote the `chars` field.
        return vectors, stats.rows([r["question"] for r in records])

    def records(self, rows: np.ndarray) -> list[tuple[str, str, dict]]:
        return [(r["qid"], r["question"], r["metadata"] or {}) for r in self._query(rows, ["qid", "question", "metadata"])]

    def find(self, ids: Sequence[str]) -> dict[str, int]:
        found = {}
        ids = list(dict.fromkeys(ids))
        with calls(self.uri):
            for start in range(0, len(ids), FILTER_VALUES):
                values = ", ".join(literal(i) for i in ids[start : start + FILTER_VALUES])
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
                [r["metadata"] or {} for r in records])

    def has_lexical(self) -> bool:
        return bool(self.lexical)

    def added(self, folder, manifest, ids, questions, vectors, lexical, metadata):
        check_text(ids, questions)
        manifest = {**manifest, "milvus": dict(manifest["milvus"])}
        gen, first = int(manifest["generation"]) + 1, int(manifest["next_row"])
        chars = sparse(lexical.chars) if lexical is not None else None
        with calls(self.uri):
            if self.lexical is None:
                create_collection(self.client, self.collection, manifest, lexical is not None, self.building)
            self.client.delete(self.collection, filter=f"gen >= {gen}", timeout=TIMEOUT_S)  # a failed add's rows
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
        return manifest, MilvusStore(self.client, manifest, lexical is not None if self.lexical is None
                                     else self.lexical, self.building)

    def removed(self, folder, manifest, rows):
        with calls(self.uri):
            for start in range(0, len(rows), FILTER_VALUES):
                part = [int(r) for r in rows[start : start + FILTER_VALUES]]
                self.client.delete(self.collection, filter=f"row in {part}", timeout=TIMEOUT_S)
            self.client.flush(self.collection, timeout=FLUSH_TIMEOUT_S)
        manifest = {**manifest, "generation": int(manifest["generation"]) + 1,
                    "count": int(manifest["count"]) - len(rows)}
        return manifest, MilvusStore(self.client, manifest, self.lexical)

    def resumed(self, manifest: dict) -> int:
        if not self._checkpoint:
            return 0
        # Rows past the checkpoint (a half-stored piece) have a later gen: the next add deletes them.
        manifest.update({k: self._checkpoint[k] for k in ("generation", "next_row", "count", "next_auto_id")})
        return int(self._checkpoint["done"])

    def checkpoint(self, manifest: dict, done: int) -> None:
        state = {k: manifest[k] for k in ("generation", "next_row", "count", "next_auto_id")}
        with calls(self.uri):
            self.client.alter_collection_properties(self.collection, {CHECKPOINT: json.dumps({**state, "done": done})},
                                                    timeout=TIMEOUT_S)

    def finished(self) -> None:
        if self.lexical is None:
            return  # nothing was stored
        with calls(self.uri):
            self.client.alter_collection_properties(self.collection, {BUILDING: "", CHECKPOINT: ""}, timeout=TIMEOUT_S)
            self._wait_indexed()

    def _wait_indexed(self) -> None:
        """Indexes are built after a flush, in the background; until then searches scan
        (on Milvus Lite: 80 ms instead of 16 at 30,000 rows). A build returns once they are
        ready, or after INDEX_WAIT_S (searches are right meanwhile, only slower)."""
        deadline = time.monotonic() + INDEX_WAIT_S
        for field in ("vector", "chars") if self.lexical else ("vector",):
            while time.monotonic() < deadline:
                state = self.client.describe_index(self.collection, field, timeout=TIMEOUT_S) or {}
                if not state.get("pending_index_rows") and state.get("indexed_rows") == state.get("total_rows"):
                    break
                time.sleep(0.5)

    def files(self, manifest: dict) -> set[str]:
        return set()  # the folder holds only the manifest

    def describe(self) -> dict:
        return {"uri": self.uri, "collection": self.collection}
