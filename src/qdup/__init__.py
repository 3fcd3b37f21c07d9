"""qdup: find duplicate questions with a small Siamese LSTM encoder.

>>> import qdup
>>> split = qdup.reference_split(qdup.read_pairs("pairs.tsv"))   # doctest: +SKIP
>>> model = qdup.train(split, qdup.TrainConfig(epochs=2))         # the default recipe, 2 epochs  # doctest: +SKIP
>>> qdup.predict(model, "How do I learn Python?", "Best way to learn Python?")  # doctest: +SKIP
(True, 0.91)
"""

__version__ = "0.1.0"

from .threads import prefer_passive_waiting  # noqa: E402

prefer_passive_waiting()  # before any module below imports torch: see qdup.threads

from .corpus import Corpus, read_questions  # noqa: E402
from .data import Pairs, pairs_from_lists, read_pairs  # noqa: E402
from .errors import (ConfigError, DataError, ModelLoadError, OutputError, OutputExistsError, QdupError,  # noqa: E402
                     QuestionError)
from .evaluation import Evaluation, evaluate, predict  # noqa: E402
from .index import Index, SearchResult  # noqa: E402
from .loss import triplet_loss  # noqa: E402
from .mining import Pair, mine_index  # noqa: E402
from .model import QdupModel, load  # noqa: E402
from .network import ModelConfig  # noqa: E402
from .split import Split, reference_split  # noqa: E402
from .recipes import RECIPES, TrainConfig  # noqa: E402
from .training import train  # noqa: E402
from .vocabulary import Vocabulary  # noqa: E402

__all__ = [
    "ConfigError", "Corpus", "DataError", "Evaluation", "Index", "ModelConfig", "ModelLoadError", "OutputError", "OutputExistsError",
    "Pair", "Pairs", "QdupError", "QdupModel", "QuestionError", "RECIPES", "SearchResult", "Split", "TrainConfig", "Vocabulary",
    "evaluate", "load", "mine_index", "pairs_from_lists", "predict", "read_pairs", "read_questions", "reference_split",
    "train", "triplet_loss",
]
