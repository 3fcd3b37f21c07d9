"""One convention for every seam with several implementations (encoders, search backends,
scorers): a :class:`Registry` maps the name a file stores (``config.json``, an index
manifest) to the dotted path of its implementation, imported on first use.

A stored name is only ever looked up here: nothing is imported from a path a file names,
so loading a model or an index never runs code it brought. Callers ask the registry for
the implementation and call it; none branches on a registered name. A new implementation
is one module plus one line in its family's registry.

>>> from qdup.errors import ConfigError
>>> colours = Registry("colour", {"red": "qdup.errors:ConfigError"}, ConfigError)
>>> colours.names
('red',)
>>> colours.get("red").__name__
'ConfigError'
>>> colours.get("blue")
Traceback (most recent call last):
...
qdup.errors.ConfigError: unknown colour 'blue' (known: red)
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import QdupError


class Registry:
    """Names -> ``"package.module"`` or ``"package.module:attribute"``, imported lazily.

    ``extras`` names the optional dependency group (``pip install 'qdup[GROUP]'``) an entry
    needs, so a missing package gives a one-line hint instead of an ImportError.
    """

    def __init__(self, family: str, entries: dict[str, str], error: type[QdupError],
                 extras: dict[str, str] | None = None) -> None:
        self.family = family
        self._entries = dict(entries)
        self._error = error
        self._extras = dict(extras or {})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def get(self, name: Any, where: str = "") -> Any:
        """The implementation registered as ``name``; a one-line error (prefixed by ``where``)
        for an unknown name or a missing optional dependency."""
        prefix = f"{where}: " if where else ""
        if name not in self:
            raise self._error(f"{prefix}unknown {self.family} {name!r} (known: {', '.join(self._entries)})")
        module, _, attribute = self._entries[name].partition(":")
        try:
            loaded = importlib.import_module(module)
        except ImportError as error:
            if name not in self._extras or (error.name or "").startswith("qdup"):
                raise
            raise self._error(f"{prefix}the {name} {self.family} needs {error.name or error}; install it with: "
                              f"pip install 'qdup[{self._extras[name]}]'") from None
        return getattr(loaded, attribute) if attribute else loaded
