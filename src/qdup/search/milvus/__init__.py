"""The Milvus backend: rows in a Milvus collection (a Lite file, a Lite server or a cluster)."""
