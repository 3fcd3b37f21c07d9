"""qdup: find duplicate questions with a small Siamese LSTM encoder.

>>> import qdup
>>> split = qdup.reference_split(qdup.read_pairs("pairs.tsv"))   # doctest: +SKIP
>>> model = qdup.train(split, qdup.TrainConfig(epochs=2))         # the default recipe, 2 epochs  # doctest: +SKIP
>>> qdup.predict(model, "How do I learn Python?", "Best way to learn Python?")  # doctest: +SKIP
(True, 0.91)
"""

__version__ = "0.1.0"

from .util.threads import prefer_passive_waiting  # noqa: E402  (torch-free: only sets an environment variable)

prefer_passive_waiting()  # before anything imports torch: see qdup.util.threads

# Names are loaded on first use (PEP 562), so `import qdup` and `qdup --help` do not
# import torch; `qdup.load`, `qdup.train`... import it when first touched.
_WHERE = {
    "Corpus": "data.corpus", "read_questions": "data.corpus",
    "Pairs": "data.pairs", "pairs_from_lists": "data.pairs", "read_pairs": "data.pairs",
    "ConfigError": "errors", "DataError": "errors", "ModelLoadError": "errors", "OutputError": "errors",
    "OutputExistsError": "errors", "QdupError": "errors", "QuestionError": "errors",
    "Evaluation": "evaluation.pairs", "evaluate": "evaluation.pairs", "predict": "evaluation.pairs",
    "Index": "search.index", "SearchResult": "search.results",
    "triplet_loss": "training.losses",
    "Pair": "mining.pairs", "mine_index": "mining.pairs",
    "QdupModel": "model", "load": "model",
    "ModelConfig": "encoders.lstm.config",
    "Split": "data.split", "reference_split": "data.split",
    "RECIPES": "training.recipes", "TrainConfig": "training.recipes",
    "train": "training.trainer",
    "Vocabulary": "text.vocabulary",
    "SearchCalibration": "evaluation.search_calibration", "calibrate_search_threshold": "evaluation.search_calibration",
    "StoredQuestion": "search.results", "UnknownIdError": "errors",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'qdup' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "ConfigError", "Corpus", "DataError", "Evaluation", "Index", "ModelConfig", "ModelLoadError", "OutputError",
    "OutputExistsError", "Pair", "Pairs", "QdupError", "QdupModel", "QuestionError", "RECIPES", "SearchResult", "Split",
    "TrainConfig", "Vocabulary", "evaluate", "load", "mine_index", "pairs_from_lists", "predict", "read_pairs",
    "read_questions", "reference_split", "train", "triplet_loss", "SearchCalibration", "calibrate_search_threshold",
    "StoredQuestion", "UnknownIdError",
]
