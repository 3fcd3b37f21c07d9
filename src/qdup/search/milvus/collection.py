"""What a qdup collection is in Milvus: its schema and indexes, the properties that name
its owner model, its family and an unfinished build, and the values its calls take (filter
literals, sparse rows, text lengths). The rows' lifecycle is :mod:`qdup.search.milvus.store`.

A *family* is the collections built as one ``--collection NAME``: the first build creates
``NAME``; a rebuild (``--force``) builds into a new ``NAME_<8 hex>`` and, once its index
folder is committed, drops the collections it replaces (listed in its ``qdup.replaces``
property until they are gone), so a rebuild killed half way never touches the old rows.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from pymilvus import DataType

from ...errors import DataError
from ...text.sparse import SparseRows
from ..inputs import MAX_ID_BYTES
from ..topk import HNSW_EF_CONSTRUCTION, HNSW_M

FINGERPRINT = "qdup.fingerprint"  # collection property: the model that owns the collection
BUILDING = "qdup.building"        # collection property: the input of a build not finished yet ("" when done)
CHECKPOINT = "qdup.checkpoint"    # collection property: JSON, how far that build got
FAMILY = "qdup.name"              # collection property: the --collection NAME it was built as
REPLACES = "qdup.replaces"        # collection property: JSON list, collections to drop once it is committed
MAX_TEXT_BYTES = MAX_ID_BYTES  # Milvus VARCHAR limit


@dataclass
class Build:
    """A build in progress (what ``qdup.building`` and ``qdup.checkpoint`` record): its family
    name, its input's key (None: not resumable), and how far an interrupted build of the same
    input got."""

    name: str
    key: str | None
    checkpoint: dict | None = None


def properties(client, collection: str) -> dict:
    return dict(client.describe_collection(collection).get("properties") or {})


def family(client, name: str) -> dict[str, dict]:
    """``{collection: properties}`` of the qdup collections built as ``--collection name``."""
    found = {}
    for collection in client.list_collections():
        if collection == name or collection.startswith(f"{name}_"):
            props = properties(client, collection)
            if FINGERPRINT in props and props.get(FAMILY, name) == name:  # collections made before families: NAME
                found[collection] = props
    return found


def replaced(props: dict) -> list[str]:
    """The collections a committed rebuild still has to drop (its ``qdup.replaces`` property)."""
    return list(json.loads(props.get(REPLACES) or "[]"))


def has_chars(client, collection: str) -> bool:
    """Whether the rows carry lexical rows (the collection of a scorer that reads words)."""
    return "chars" in {f["name"] for f in client.describe_collection(collection)["fields"]}


def create_collection(client, collection: str, manifest: dict, lexical: bool, building: str | None,
                      name: str, replaces: list[str]) -> None:
    """An empty, loaded collection for the manifest's model; ``lexical``: with the ``chars`` field;
    ``name``: its family; ``replaces``: the collections to drop once its index is committed."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("gen", DataType.INT64)
    schema.add_field("qid", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    schema.add_field("question", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(manifest["dim"]))
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP",
                    params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
    # Scalar indexes: every read filters on gen (7 ms a search without it, on Milvus Lite), find on qid.
    index.add_index("gen", index_type="INVERTED")
    index.add_index("qid", index_type="INVERTED")
    if lexical:  # Milvus refuses empty sparse rows: no field at all for a cosine-only model
        schema.add_field("chars", DataType.SPARSE_FLOAT_VECTOR)
        index.add_index("chars", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(collection, schema=schema, index_params=index,
                             properties={FINGERPRINT: manifest["fingerprint"], BUILDING: building or "", FAMILY: name,
                                         REPLACES: json.dumps(replaces)})
    client.load_collection(collection)


def wait_indexed(client, collection: str, fields: tuple[str, ...], wait_s: float, timeout_s: float) -> None:
    """Indexes are built after a flush, in the background; until then searches scan
    (on Milvus Lite: 80 ms instead of 16 at 30,000 rows). Returns once they are ready, or
    after ``wait_s`` (searches are right meanwhile, only slower)."""
    deadline = time.monotonic() + wait_s
    for field in fields:
        while time.monotonic() < deadline:
            state = client.describe_index(collection, field, timeout=timeout_s) or {}
            if not state.get("pending_index_rows") and state.get("indexed_rows") == state.get("total_rows"):
                break
            time.sleep(0.5)


def check_text(questions: list[str]) -> None:
    """Refuse a question longer than a VARCHAR field holds (ids: every backend, search.inputs)."""
    for text in questions:
        if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
            raise DataError(f"question {text[:40]!r}... is longer than {MAX_TEXT_BYTES} bytes, "
                            "the most a Milvus VARCHAR holds")


def sparse(rows: SparseRows) -> list[dict[int, float]]:
    """Sparse rows as Milvus sparse vectors ({column: value} per row)."""
    return [dict(zip(rows.indices[a:b].tolist(), rows.data[a:b].tolist()))
            for a, b in zip(rows.indptr[:-1], rows.indptr[1:])]
