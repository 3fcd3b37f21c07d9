"""The HTTP service: the FastAPI app, its access rules (token, read-only, hosts) and the search page."""
