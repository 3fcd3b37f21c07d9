"""The package layout holds (docs/architecture.md): each folder imports only from the folders
below it, no module reaches for another module's private names, and modules stay small."""

import ast
from pathlib import Path

import pytest

from helpers import ROOT

PACKAGE = ROOT / "src" / "qdup"
# Bottom to top, as docs/architecture.md draws the towers; a folder imports from its own
# tower and the ones before it. qdup/__init__.py only maps public names (lazily).
TOWERS = ["errors", "util", "text", "data", "encoders", "scoring", "model", "search", "evaluation", "mining",
          "training", "service", "cli"]
MAX_LINES = 300
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tower(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(absolute module, imported names)`` of every import of qdup in the file, nested ones included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            if node.module is None:  # from . import a, b: each name is a module (but __version__)
                out += [(target, [n]) if n.startswith("__") else (f"{target}.{n}", []) for n in names]
            else:
                out.append((target, names))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return [(t, n) for t, n in out if t == "qdup" or t.startswith("qdup.")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_tower_and_those_below(path):
    mine = TOWERS.index(tower(module_name(path)))
    for target, _ in imports(path):
        if target != "qdup":  # the package itself: __version__
            assert tower(target) in TOWERS, target
            assert TOWERS.index(tower(target)) <= mine, f"{module_name(path)} imports {target} from a tower above it"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_names(path):
    for target, names in imports(path):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module_name(path)} imports {private} from {target}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by job"


def test_every_folder_is_a_tower():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    assert folders | modules <= set(TOWERS), (folders | modules) - set(TOWERS)
