"""qdup: find duplicate questions with a small Siamese LSTM encoder."""

__version__ = "0.1.0"
