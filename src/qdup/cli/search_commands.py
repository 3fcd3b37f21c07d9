"""Search, index and service commands (issue 4)."""
