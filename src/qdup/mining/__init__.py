"""Finding duplicate pairs and groups inside an index."""
