"""The index: a folder of stored questions (lifecycle, manifest, commit), hybrid search, the backend seam and its stores (local/, milvus/)."""
