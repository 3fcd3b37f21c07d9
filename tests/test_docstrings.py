"""Every runnable example in the library's docstrings gives the output it shows."""

import doctest
import importlib
import pkgutil

import pytest

import qdup

MODULES = sorted(m.name for m in pkgutil.walk_packages(qdup.__path__, "qdup.") if not m.name.startswith("qdup.cli"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"qdup": qdup}, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"


def test_examples_are_run():
    attempted = sum(doctest.testmod(importlib.import_module(n), extraglobs={"qdup": qdup}).attempted
                    for n in MODULES)
    assert attempted >= 15  # the examples a reader can run: vocabulary, loss, metrics, recipes...
