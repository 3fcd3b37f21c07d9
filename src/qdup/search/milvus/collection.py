"""What a qdup collection is in Milvus: its schema and indexes, the properties that name
its owner model and an unfinished build, and the values its calls take (filter literals,
sparse rows, text lengths). The rows' lifecycle is :mod:`qdup.search.milvus.store`.
"""

from __future__ import annotations

import scipy.sparse as sp
from pymilvus import DataType

from ...errors import DataError
from ..filters import milvus_literal
from ..topk import HNSW_EF_CONSTRUCTION, HNSW_M

FINGERPRINT = "qdup.fingerprint"  # collection property: the model that owns the collection
BUILDING = "qdup.building"        # collection property: the input of a build not finished yet ("" when done)
CHECKPOINT = "qdup.checkpoint"    # collection property: JSON, how far that build got
MAX_TEXT_BYTES = 65_535  # Milvus VARCHAR limit


def properties(client, collection: str) -> dict:
    return dict(client.describe_collection(collection).get("properties") or {})


def owner(client, collection: str) -> str:
    """Fingerprint of the model whose vectors the collection holds."""
    return str(properties(client, collection).get(FINGERPRINT, "unknown"))


def has_chars(client, collection: str) -> bool:
    """Whether the rows carry lexical rows (the collection of a scorer that reads words)."""
    return "chars" in {f["name"] for f in client.describe_collection(collection)["fields"]}


def create_collection(client, collection: str, manifest: dict, lexical: bool, building: str | None) -> None:
    """An empty, loaded collection for the manifest's model; ``lexical``: with the ``chars`` field."""
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
                             properties={FINGERPRINT: manifest["fingerprint"], BUILDING: building or ""})
    client.load_collection(collection)


def check_text(ids: list[str], questions: list[str]) -> None:
    """Refuse an id or a question longer than a VARCHAR field holds."""
    for n, text in enumerate([*ids, *questions]):
        if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
            what = "id" if n < len(ids) else "question"
            raise DataError(f"{what} {text[:40]!r}... is longer than {MAX_TEXT_BYTES} bytes, "
                            "the most a Milvus VARCHAR holds")


def literal(text: str) -> str:
    """A string literal of Milvus's filter language (C-style escapes)."""
    return milvus_literal(text)


def sparse(rows: sp.csr_matrix) -> list[dict[int, float]]:
    """CSR rows as Milvus sparse vectors ({column: value} per row)."""
    return [dict(zip(rows.indices[a:b].tolist(), rows.data[a:b].tolist()))
            for a, b in zip(rows.indptr[:-1], rows.indptr[1:])]
