"""LightGBM's own C library for predictions, through ctypes, without importing the lightgbm package.

``import lightgbm`` costs ~2 CPU-s (it imports scikit-learn and pandas when they are
installed), more than torch: ``qdup predict`` and ``qdup search`` paid it on every start.
Predicting needs none of it: the same ``lib_lightgbm`` that the package wraps parses the
model text (numbers only, no code) and evaluates the trees, so predictions are the very
ones ``lightgbm.Booster.predict`` gives. Only a few functions of its stable C API
(``c_api.h``, LightGBM 4) are used; training still uses the lightgbm package.

The C library trusts the text it parses: a truncated or edited re-ranker file (a model folder
without checksums) made it read past the text or the feature row and abort or crash the
process. :func:`checked_text` reads the text as the library will and refuses what it would
misread, then hands it over without ``tree_sizes`` (byte offsets the library follows without
a bound check; without them it reads the trees one after another, as this check did).
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import sys
import threading
import weakref
from functools import lru_cache
from pathlib import Path

import numpy as np

DTYPE_FLOAT32, DTYPE_FLOAT64 = 0, 1  # C_API_DTYPE_*
PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: a probability for a binary objective, else the raw score
PREDICT_RAW_SCORE = 1  # C_API_PREDICT_RAW_SCORE: the trees' sum, whatever the objective
_NAMES = {"win32": "lib_lightgbm.dll", "darwin": "lib_lightgbm.dylib"}
_LINES = re.compile(r"\r\n|\r|\n")  # the library's line ends
_INTS = re.compile(r"-?[0-9]{1,9}(?: -?[0-9]{1,9})*")  # what the library reads as the same integers
_WHOLE = re.compile(r"[0-9]{1,9}")  # a count: plain digits, none the library would read otherwise
TREE_KEYS = 22  # the library reads at most this many key=value lines of a tree


class LightGBMLibraryError(Exception):
    """The C library refused a call; the message is LightGBM's own."""


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """``lib_lightgbm`` as installed with the lightgbm package (looked up, not imported)."""
    spec = importlib.util.find_spec("lightgbm")
    name = _NAMES.get(sys.platform, "lib_lightgbm.so")
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    found = [f / sub / name for f in folders for sub in ("lib", "", "bin") if (f / sub / name).is_file()]
    if found:
        path = str(found[0])
    else:  # an unusual layout: ask the package itself (slower to import, same library)
        from lightgbm.libpath import find_lib_path

        path = find_lib_path()[0]
    lib = ctypes.cdll.LoadLibrary(path)
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    return lib


def _check(status: int) -> None:
    if status != 0:
        raise LightGBMLibraryError(library().LGBM_GetLastError().decode("utf-8", "replace"))


class NativeBooster:
    """A booster loaded from LightGBM's text format; ``predict`` as ``Booster.predict(num_threads=1)``.

    Each range of trees asked for has a booster handle of its own: every prediction call sets
    the range of trees in the booster it is given, which all threads share (LightGBM's
    ``c_api.cpp`` says so, issue #6142), so two threads asking one handle for different
    ranges at once sum the wrong trees. Asking for the same range, they write the same values.
    """

    def __init__(self, text: str) -> None:
        self._text = checked_text(text)
        handle, iterations = self._load()
        self._handles = {(0, -1): handle}  # (first, count) -> the handle that predicts only those
        self._loading = threading.Lock()
        self.trees = iterations  # boosting rounds (one tree each for one output)
        features = ctypes.c_int(0)
        _check(library().LGBM_BoosterGetNumFeature(handle, ctypes.byref(features)))
        self.num_features = features.value

    def _load(self) -> tuple[ctypes.c_void_p, int]:
        lib, handle, iterations = library(), ctypes.c_void_p(), ctypes.c_int(0)
        _check(lib.LGBM_BoosterLoadModelFromString(self._text, ctypes.byref(iterations), ctypes.byref(handle)))
        weakref.finalize(self, lib.LGBM_BoosterFree, handle)
        return handle, iterations.value

    def _handle(self, trees: tuple[int, int]) -> ctypes.c_void_p:
        handle = self._handles.get(trees)
        if handle is None:
            with self._loading:
                handle = self._handles.get(trees)
                if handle is None:
                    handle = self._handles[trees] = self._load()[0]
        return handle

    def predict(self, features: np.ndarray, trees: tuple[int, int] = (0, -1), raw: bool = False) -> np.ndarray:
        """``(n,)`` float64 predictions of ``(n, num_features)`` float32 or float64 rows.

        ``trees``: (first, count) of the boosting rounds to sum (count -1: all from first);
        ``raw``: the sum itself, without the objective's transform. Raw sums over
        consecutive ranges of trees add up to the raw sum over all of them."""
        if features.dtype not in (np.float32, np.float64):
            features = features.astype(np.float32)
        features = np.ascontiguousarray(features)
        rows, columns = features.shape
        out, written = np.empty(rows, np.float64), ctypes.c_int64(0)
        _check(library().LGBM_BoosterPredictForMat(
            self._handle(trees), features.ctypes.data_as(ctypes.c_void_p),
            DTYPE_FLOAT32 if features.dtype == np.float32 else DTYPE_FLOAT64,
            ctypes.c_int32(rows), ctypes.c_int32(columns), 1, PREDICT_RAW_SCORE if raw else PREDICT_NORMAL,
            ctypes.c_int(trees[0]), ctypes.c_int(trees[1]), b"num_threads=1",
            ctypes.byref(written), out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))))
        return out[: written.value]


def checked_text(text: str) -> bytes:
    """The model text to hand the C library, after checking that it reads it as a model of
    single-output trees over its own features (LightGBMLibraryError, one line, otherwise)."""
    if "\0" in text:
        raise LightGBMLibraryError("a NUL character in the model text")
    lines = _LINES.split(text) if "\r" in text else text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("Tree=")), len(lines))
    header = dict(pair for pair in map(_header_pair, lines[:start]) if pair)
    for key in ("num_class", "num_tree_per_iteration"):  # predictions write one value per row
        if header.get(key, "1") != "1":
            raise LightGBMLibraryError(f"{key}={header[key]}: only models with one output are read")
    if not _WHOLE.fullmatch(header.get("max_feature_idx", "")):
        raise LightGBMLibraryError("max_feature_idx does not hold 1 number(s)")
    features = int(header["max_feature_idx"]) + 1
    trees, i = [], start
    while i < len(lines) and lines[i].startswith("Tree="):  # as the library: trees until another line
        end = next((j for j in range(i + 1, len(lines)) if not lines[j]), len(lines))
        if end >= len(lines) - 1:  # no empty line after it: the library reads on past the text's end
            raise LightGBMLibraryError(f"{lines[i]}: the model text ends inside it")
        if end - i - 1 > TREE_KEYS or any("=" not in line for line in lines[i + 1 : end]):
            raise LightGBMLibraryError(f"{lines[i]} is not a block of key=value lines")
        trees.append((lines[i], dict(line.partition("=")[::2] for line in lines[i + 1 : end])))
        i = next((j for j in range(end, len(lines)) if lines[j]), len(lines))
    if not trees:
        raise LightGBMLibraryError("the model text holds no trees")
    if i >= len(lines) or lines[i] != "end of trees":  # cut between two trees: the library reads fewer, silently
        raise LightGBMLibraryError(f"no 'end of trees' after {trees[-1][0]}: the model text is cut short or damaged")
    _check_trees(trees, features)
    kept = [line for line in lines[:start] if (_header_pair(line) or ("",))[0] != "tree_sizes"] + lines[start:]
    return "\n".join(kept).encode("utf-8")


def _header_pair(line: str) -> tuple[str, str] | None:
    """A header line's key and value as the library reads them: split at every ``=`` with the
    empty parts dropped, so ``=num_class=3`` sets num_class and a bare ``num_class`` sets it to ''."""
    parts = [part for part in line.split("=") if part]
    if not parts:
        return None
    return parts[0], "=".join(parts[1:])  # more than 2 parts: the library refuses, or a name list


def _check_trees(trees: list[tuple[str, dict[str, str]]], features: int) -> None:
    """Each tree's arrays: counts, split features among the model's, no categorical or linear
    parts, finite leaves, and children in range with one parent each (every node below the
    root), so that a prediction from the root ends in a leaf and reads only the row.
    Every tree's values of a key are read as one array (a tree at a time: 15 ms a model)."""
    for name, tree in trees:
        if not _WHOLE.fullmatch(tree.get("num_leaves", "")) or int(tree["num_leaves"]) < 1 \
                or tree.get("num_cat") != "0" or tree.get("is_linear", "0") != "0":
            raise LightGBMLibraryError(f"{name}: num_leaves, num_cat or is_linear is not one of a plain tree")
    leaves = np.array([int(tree["num_leaves"]) for _, tree in trees])
    values = _column(trees, "leaf_value", leaves, float)  # its counts checked: arrays by leaves are now bounded
    _refuse(trees, np.repeat(np.arange(len(trees)), leaves)[~np.isfinite(values)],
            "a leaf value is not a finite number")
    splits = leaves - 1
    split_on, decisions = (_column(trees, key, splits, int) for key in ("split_feature", "decision_type"))
    _column(trees, "threshold", splits, float)
    owner = np.repeat(np.arange(len(trees)), splits)
    wrong = (split_on < 0) | (split_on >= features) | (decisions < 0) | (decisions >= 128) | ((decisions & 1) == 1)
    _refuse(trees, owner[wrong], "a split on a feature the model has not, or a categorical split")
    # A tree of n leaves has n - 1 splits, whose 2n - 2 children must be the leaves -1..-n and
    # the splits 1..n-2, each once: each in range, and no slot of its tree taken twice.
    children = np.concatenate([_column(trees, key, splits, int) for key in ("left_child", "right_child")])
    owner = np.concatenate([owner, owner])
    n = leaves[owner]
    in_range = (children >= -n) & (children <= n - 2) & (children != 0)
    slot = np.where(in_range, (np.cumsum(2 * leaves) - 2 * leaves)[owner] + children + n, 0)
    taken = np.bincount(slot, weights=in_range, minlength=int(2 * leaves.sum()))
    _refuse(trees, owner[~in_range | (taken[slot] > 1)], "its children do not make a tree")


def _refuse(trees: list[tuple[str, dict[str, str]]], bad: np.ndarray, why: str) -> None:
    """Refuse the first of the trees ``bad`` (their indices), if any, saying ``why``."""
    if len(bad):
        raise LightGBMLibraryError(f"{trees[bad[0]][0]}: {why}")


def _column(trees: list[tuple[str, dict[str, str]]], key: str, counts, kind: type) -> np.ndarray:
    """Every tree's ``key`` values (``counts[i]`` of them in tree ``i``; none read where 0), in
    one array: int64 for ``kind`` int (plain decimal digits only), float64 for float."""
    values = [(name, tree.get(key, ""), count) for (name, tree), count in zip(trees, counts) if count]
    for name, value, count in values:
        if value.count(" ") + 1 != count or (kind is int and not _INTS.fullmatch(value)):
            raise LightGBMLibraryError(f"{name} {key} does not hold {count} number(s)")
    dtype = np.int64 if kind is int else np.float64
    try:
        return np.array(" ".join(value for _, value, _ in values).split(" ") if values else [], dtype=dtype)
    except ValueError:  # a float that does not read: name its tree
        for name, value, count in values:
            try:
                np.array(value.split(" "), dtype=dtype)
            except ValueError:
                raise LightGBMLibraryError(f"{name} {key} does not hold {count} number(s)") from None
        raise
