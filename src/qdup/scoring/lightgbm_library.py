"""LightGBM's own C library for predictions, through ctypes, without importing the lightgbm package.

``import lightgbm`` costs ~2 CPU-s (it imports scikit-learn and pandas when they are
installed), more than torch: ``qdup predict`` and ``qdup search`` paid it on every start.
Predicting needs none of it: the same ``lib_lightgbm`` that the package wraps parses the
model text (numbers only, no code) and evaluates the trees, so predictions are the very
ones ``lightgbm.Booster.predict`` gives. Only a few functions of its stable C API
(``c_api.h``, LightGBM 4) are used; training still uses the lightgbm package.
"""

from __future__ import annotations

import ctypes
import importlib.util
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
        self._text = text.encode("utf-8")
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
