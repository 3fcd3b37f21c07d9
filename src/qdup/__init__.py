"""qdup: find duplicate questions with a small Siamese LSTM encoder."""

__version__ = "0.1.0"

# Search over a corpus (issue 4).
from .index import Index, SearchResult  # noqa: E402,F401
