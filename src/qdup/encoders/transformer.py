"""The pretrained-transformer architecture behind the seam (:mod:`qdup.encoders.base`).

A Hugging Face encoder (BERT, MiniLM, ...), its fast tokenizer, then mean (or [CLS])
pooling over the real tokens and L2 normalisation, as sentence-transformers does.

In a qdup folder: ``model.safetensors`` (the network's state dict), ``transformer.json``
(its Hugging Face config), ``tokenizer.json`` (read by the ``tokenizers`` library);
config.json's ``model`` section is a :class:`TransformerShape`. A sentence-transformers
or Hugging Face folder opens as it is (:func:`open_pretrained`). Everything is offline
(no hub access) and no code from a folder ever runs: remote code and pickles are refused
by :func:`qdup.encoders.base.refuse_unsafe` before this module reads anything.

Needs the optional group: ``pip install 'qdup[transformers]'``.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: never reach the hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from ..errors import ConfigError, ModelLoadError  # noqa: E402
from ..util import atomic  # noqa: E402
from ..util.progress import bar as progress_bar  # noqa: E402
from .lstm.encoder import length_chunks  # noqa: E402
from .weights import all_finite, read_weights, weights_bytes  # noqa: E402

REQUIRED_FILES = ("model.safetensors", "tokenizer.json", "transformer.json")
POOLINGS = ("mean", "cls")
# sentence-transformers modules qdup can follow (names compared, never imported).
ST_MODULES = {"sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
              "sentence_transformers.models.Normalize"}
MAX_LENGTH_CAP = 512  # tokens; longer inputs are cut (questions are short)

transformers.logging.set_verbosity_error()  # no "weights not initialised" chatter for unused heads
transformers.logging.disable_progress_bar()  # loading is quick; qdup shows its own progress


@dataclass(frozen=True)
class TransformerShape:
    """How the network's token states become a question vector."""

    pooling: str = "mean"  # "mean" over real tokens, or the "cls" token's state
    max_length: int = 128  # tokens kept per question, special tokens included
    lowercase: bool = False  # lower-case before tokenizing (sentence-transformers' do_lower_case)

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"transformer pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length < 2:
            raise ConfigError(f"transformer max_length must be an integer >= 2, got {self.max_length!r}")
        if not isinstance(self.lowercase, bool):
            raise ConfigError(f"transformer lowercase must be true or false, got {self.lowercase!r}")

    def to_dict(self) -> dict:
        return asdict(self)


class TransformerEncoder:
    """A tokenizer, a Hugging Face encoder and pooling: questions to unit vectors."""

    name = "transformer"
    # Rows per training call: attention is quadratic in the chunk's longest row, so small
    # length-sorted chunks pay least for padding (MiniLM, 128 rows: 16 or 32 took 1.33 s, 128 took 2.3 s).
    train_chunk = 32

    def __init__(self, tokenizer: tokenizers.Tokenizer, network: torch.nn.Module, shape: TransformerShape):
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()  # qdup pads per chunk; a saved fixed padding would waste work
        self.tokenizer.enable_truncation(shape.max_length)
        self.network = network.eval()
        self.shape = shape
        self._types = "token_type_ids" in inspect.signature(network.forward).parameters
        self._pad = network.config.pad_token_id or 0
        self._tensors: tuple | None = None

    @property
    def dim(self) -> int:
        return int(self.network.config.hidden_size)

    def version(self) -> tuple:
        if self._tensors is None or self._tensors[0] is not self.network:
            self._tensors = (self.network, [*self.network.parameters(), *self.network.buffers()])
        return tuple((t._version, t.data_ptr()) for t in self._tensors[1])

    def digest(self) -> bytes:
        return weights_bytes(self.network, copy=True) + self.tokenizer.to_str().encode("utf-8")

    def rows(self, texts: Sequence[str]) -> list[list[int]]:
        texts = [t.lower() for t in texts] if self.shape.lowercase else list(texts)
        # surrogatepass text (undecodable input) must not crash the Rust tokenizer
        texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]

    def row_length(self, row: list[int]) -> int:
        return len(row)

    def forward(self, rows: Sequence[list[int]]) -> torch.Tensor:
        device = next(self.network.parameters()).device
        longest = max(len(row) for row in rows)
        ids = torch.full((len(rows), longest), self._pad, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        lengths = torch.tensor([len(row) for row in rows])
        mask = (torch.arange(longest)[None, :] < lengths[:, None]).long()  # (B, T)
        ids, mask = ids.to(device), mask.to(device)
        extra = {"token_type_ids": torch.zeros_like(ids)} if self._types else {}
        states = self.network(input_ids=ids, attention_mask=mask, **extra).last_hidden_state  # (B, T, d)
        if self.shape.pooling == "cls":
            pooled = states[:, 0]
        else:
            weights = mask[:, :, None].to(states.dtype)  # (B, T, 1)
            pooled = (states * weights).sum(dim=1) / weights.sum(dim=1)
        return F.normalize(pooled, dim=1)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 512, progress: bool = False) -> np.ndarray:
        self.network.eval()
        rows = self.rows(texts)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        # Length-sorted chunks: little padding; a chunk's rows are at most 64 (attention is T^2).
        chunks = progress_bar(length_chunks([len(r) for r in rows], min(batch_size, 64)), "encoding", "batch",
                              enabled=progress)
        for chunk in chunks:
            out[chunk] = self.forward([rows[i] for i in chunk]).float().cpu().numpy()
        return out

    def to(self, device: str) -> "TransformerEncoder":
        self.network.to(device)
        return self

    def save(self, folder: Path) -> dict:
        atomic.write_bytes(folder / "model.safetensors", weights_bytes(self.network, copy=True))
        atomic.write_text(folder / "transformer.json", self.network.config.to_json_string())
        atomic.write_text(folder / "tokenizer.json", self.tokenizer.to_str())
        return self.shape.to_dict()


def load(folder: Path, section) -> TransformerEncoder:
    """A qdup folder (``section``: config.json's model section) or, with ``section`` None,
    a pretrained folder opened as it is."""
    if section is None:
        return open_pretrained(folder)
    try:
        shape = TransformerShape(**section)
    except (ConfigError, TypeError) as error:
        raise ModelLoadError(f"{folder}: config.json has an invalid model section ({error})") from None
    settings = _json(folder, "transformer.json")
    try:
        config = transformers.AutoConfig.for_model(**settings)
        network = transformers.AutoModel.from_config(config)
    except (ValueError, TypeError, KeyError) as error:
        raise ModelLoadError(f"{folder}: transformer.json describes no model qdup can build ({error})") from None
    network.load_state_dict(read_weights(folder / "model.safetensors", network.state_dict()))
    return TransformerEncoder(_tokenizer(folder), network, shape)


def open_pretrained(folder: Path) -> TransformerEncoder:
    """A sentence-transformers or Hugging Face folder as it is: safetensors weights,
    config.json, tokenizer.json; pooling and length from sentence-transformers' files."""
    shape = _pretrained_shape(folder)
    if not (folder / "model.safetensors").is_file():
        raise ModelLoadError(f"{folder}: no model.safetensors (qdup reads weights from safetensors only)")
    tokenizer = _tokenizer(folder)
    try:
        network = transformers.AutoModel.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True,
            dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelLoadError(f"{folder}: cannot open the pretrained model ({first})") from None
    for name, tensor in network.state_dict().items():
        if not all_finite(tensor):
            raise ModelLoadError(f"{folder}: weight {name} holds NaN or infinite values")
    return TransformerEncoder(tokenizer, network, shape)


def _pretrained_shape(folder: Path) -> TransformerShape:
    config = _json(folder, "config.json")
    limit = min(int(config.get("max_position_embeddings") or MAX_LENGTH_CAP), MAX_LENGTH_CAP)
    if not (folder / "modules.json").is_file():  # a plain Hugging Face folder: mean pooling
        return TransformerShape("mean", limit)
    modules = _json(folder, "modules.json")
    kinds = [m.get("type") if isinstance(m, dict) else m for m in (modules if isinstance(modules, list) else [modules])]
    unknown = [k for k in kinds if k not in ST_MODULES]
    if unknown:
        raise ModelLoadError(f"{folder}: sentence-transformers module {unknown[0]!r} is not supported by qdup")
    if any(isinstance(m, dict) and m.get("type", "").endswith("Transformer") and m.get("path", "") != ""
           for m in modules):
        raise ModelLoadError(f"{folder}: the transformer must be at the folder's root (modules.json path \"\")")
    pooling = "mean"
    pool = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    if pool is not None:
        settings = _json(folder / str(pool.get("path", "")), "config.json")
        modes = [k for k, v in settings.items() if k.startswith("pooling_mode") and v]
        if modes not in (["pooling_mode_mean_tokens"], ["pooling_mode_cls_token"]):
            raise ModelLoadError(f"{folder}: pooling {modes} is not supported (mean or cls tokens only)")
        pooling = "mean" if modes == ["pooling_mode_mean_tokens"] else "cls"
    bert = _json(folder, "sentence_bert_config.json") if (folder / "sentence_bert_config.json").is_file() else {}
    length = min(int(bert.get("max_seq_length") or limit), limit)
    try:
        return TransformerShape(pooling, length, bool(bert.get("do_lower_case", False)))
    except ConfigError as error:
        raise ModelLoadError(f"{folder}: {error}") from None


def _tokenizer(folder: Path) -> tokenizers.Tokenizer:
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no tokenizer.json (qdup reads fast tokenizers only)")
    try:
        return tokenizers.Tokenizer.from_file(str(path))
    except Exception as error:  # the Rust side raises its own exception type
        raise ModelLoadError(f"{folder}: tokenizer.json is corrupt ({str(error).splitlines()[0]})") from None


def _json(folder: Path, name: str):
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: {name} is missing") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ModelLoadError(f"{folder}: {name} is corrupt ({error})") from None
