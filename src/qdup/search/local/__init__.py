"""The local backends (exact, hnsw, auto): rows in segment files inside the index folder."""
