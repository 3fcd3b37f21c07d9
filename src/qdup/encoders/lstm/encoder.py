"""The LSTM architecture behind the seam (:mod:`qdup.encoders.base`): vocabulary + Siamese branch.

Files: ``model.safetensors`` (the :class:`~qdup.encoders.lstm.network.SiameseEncoder` weights) and
``vocab.txt``; config.json's ``model`` section is the :class:`~qdup.encoders.lstm.config.ModelConfig`.
Folders saved before the seam load unchanged, to the same vectors and fingerprint.
"""

from __future__ import annotations

import threading
from itertools import chain
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...errors import ConfigError, ModelLoadError
from ...text.vocabulary import Vocabulary
from ...util import atomic
from ...util.progress import bar as progress_bar
from ..weights import read_weights, weights_bytes
from .config import ModelConfig
from .inputs import Featurizer
from .network import SiameseEncoder

REQUIRED_FILES = ("model.safetensors", "vocab.txt")
MIN_BUCKET = 32  # fewer rows of one length are not worth an encoder call of their own


class LstmEncoder:
    """A vocabulary and a :class:`SiameseEncoder`: questions to unit vectors."""

    name = "lstm"
    train_chunk = 128  # rows per training call: measured fastest of 64/128/256 (docs/benchmarks.md)

    def __init__(self, vocabulary: Vocabulary, network: SiameseEncoder, device: str = "cpu"):
        self.vocabulary = vocabulary
        self.network = network
        self.featurizer = featurizer_for(vocabulary, network.config, fused=True)  # inference input
        self._train_featurizer = featurizer_for(vocabulary, network.config, device)
        self._fused_version: tuple | None = None
        self._fusing = threading.Lock()
        self._tensors: tuple | None = None  # (network, its parameters and buffers): see version()

    @property
    def config(self) -> ModelConfig:
        return self.network.config

    @property
    def dim(self) -> int:
        return self.config.output_dim

    def version(self) -> tuple:
        # Tensor._version grows on every in-place change (optimizer steps, load_state_dict);
        # the data pointer changes when a tensor is replaced (``p.data = ...``). Reading them
        # from the tensors directly costs a few microseconds; ``state_dict()`` cost a third
        # of a one-pair predict.
        if self._tensors is None or self._tensors[0] is not self.network:
            self._tensors = (self.network, [*self.network.parameters(), *self.network.buffers()])
        return tuple((t._version, t.data_ptr()) for t in self._tensors[1])

    def digest(self) -> bytes:
        return weights_bytes(self.network) + "\n".join(self.vocabulary.tokens).encode("utf-8")

    def _refresh_fused_table(self) -> None:
        """(Re)build the word + n-gram table whenever the weights changed since it was built.

        Under a lock: the service encodes on several threads, and a second rebuild would
        swap in an empty table under a thread that has just filled its words' rows."""
        version = self.version()
        if (self.config.ngram_buckets or self.config.bidirectional) and version != self._fused_version:
            with self._fusing:
                if version != self._fused_version:
                    self.network.fuse()
                    self._fused_version = version

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 512, progress: bool = False) -> np.ndarray:
        if self.network.training:  # eval() walks every submodule: a tenth of one question's encoding
            self.network.eval()
        self._refresh_fused_table()
        rows = self.featurizer.rows(texts)
        words = np.fromiter(chain.from_iterable(ids for ids, _ in rows), dtype=np.int64)
        self.network.fuse_words(words, self.featurizer.word_ngrams)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        chunks = progress_bar(length_chunks([len(ids) for ids, _ in rows], batch_size), "encoding", "batch",
                              enabled=progress)
        for chunk in chunks:
            out[chunk] = self.network(self.featurizer.collate([rows[i] for i in chunk])).numpy()
        return out

    # Training (qdup.training.steps): rows prepared once, batches with gradients.
    def rows(self, texts: Sequence[str]) -> list:
        return self._train_featurizer.rows(texts)

    def row_length(self, row) -> int:
        return len(row[0])

    def forward(self, rows: Sequence) -> torch.Tensor:
        return self.network(self._train_featurizer.collate(rows))

    def to(self, device: str) -> "LstmEncoder":
        self.network.to(device)
        self._train_featurizer = featurizer_for(self.vocabulary, self.config, device)
        return self

    def save(self, folder: Path) -> dict:
        atomic.write_bytes(folder / "model.safetensors", weights_bytes(self.network))
        self.vocabulary.save(folder / "vocab.txt")
        return self.config.to_dict()


def load(folder: Path, section) -> LstmEncoder:
    try:
        config = ModelConfig.from_dict(section)
    except (ConfigError, TypeError, KeyError, AttributeError) as error:
        raise ModelLoadError(f"{folder}: config.json has an invalid model section ({error})") from None
    vocabulary = Vocabulary.load(folder / "vocab.txt")
    if len(vocabulary) != config.vocab_size:
        raise ModelLoadError(
            f"{folder}: vocab.txt has {len(vocabulary)} tokens but config.json says {config.vocab_size}"
        )
    return LstmEncoder(vocabulary, _load_network(config, folder / "model.safetensors"))


def featurizer_for(vocabulary: Vocabulary, config: ModelConfig, device: str = "cpu",
                   fused: bool = False) -> Featurizer:
    return Featurizer(vocabulary, config.max_length, config.ngram_buckets, config.ngram_min,
                      config.ngram_max, device, fused, lowercase=config.lowercase)


def length_chunks(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Row indices in chunks of at most ``batch_size``, length-sorted: little padding work.

    Rows of one length form chunks of their own (no padding at all, which the encoder's
    one-call bidirectional path needs) where there are at least ``MIN_BUCKET`` of them;
    rarer lengths share chunks. Vectors do not depend on the chunking.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    chunks: list[list[int]] = []
    pending: list[int] = []  # rows of rare lengths, waiting to fill a mixed chunk
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and lengths[order[end]] == lengths[order[start]]:
            end += 1
        run = order[start:end]
        if len(run) >= MIN_BUCKET:
            chunks += [run[i : i + batch_size] for i in range(0, len(run), batch_size)]
        else:
            pending += run
            while len(pending) >= batch_size:
                chunks.append(pending[:batch_size])
                pending = pending[batch_size:]
        start = end
    return chunks + ([pending] if pending else [])


def _load_network(config: ModelConfig, path: Path) -> SiameseEncoder:
    """Check the file's shapes (from its header) before allocating anything, then load."""
    try:
        with torch.device("meta"):  # shapes only, no memory: config.json may ask for huge sizes
            network = SiameseEncoder(config, initialise=False)
    except (RuntimeError, OverflowError, ValueError, TypeError):  # sizes beyond what a tensor (or an int64) holds
        raise ModelLoadError(f"{path.parent}: config.json describes a model too large to build") from None
    tensors = read_weights(path, network.state_dict())
    network.load_state_dict(tensors, assign=True)  # the meta tensors become the loaded ones
    return network
