"""Named exceptions. Each message is one line a user can act on; the CLI prints it as is."""


class QdupError(Exception):
    """Base class for every error qdup reports to a user."""


class DataError(QdupError):
    """An input file or question that cannot be used (missing, wrong columns, bad bytes...)."""


class InputError(DataError):
    """A value handed in to be stored or asked (question, id, metadata) that cannot be used as
    it is: the service answers 422, as for any other invalid field."""


class QuestionError(InputError):
    """A question that cannot be asked or stored: empty once standardised, or not valid Unicode."""


class UnknownIdError(DataError):
    """An id that is not in the index (the service answers 404)."""


class ChangedDuringSearchError(DataError):
    """Rows a search found were deleted by another writer before it read them (a Milvus
    index): the same search on the index as it is now succeeds (the service retries it)."""


class ModelLoadError(QdupError):
    """A model folder that is missing, corrupt, or written by an incompatible version."""


class ConfigError(QdupError, ValueError):
    """An invalid setting (threshold out of range, negative batch size...)."""


class OutputError(QdupError):
    """An output that cannot be written (read-only folder, a file in the way...)."""


class OutputExistsError(OutputError):
    """Refusing to overwrite an existing output without ``force``."""
