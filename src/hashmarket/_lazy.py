"""Package exports imported on first use.

A package's public names are written once, as ordinary ``from module import name`` statements
in an ``if TYPE_CHECKING:`` block of its ``__init__``: type checkers and readers see plain
imports, and at run time :func:`lazy_exports` reads that block and imports a name's module only
when the name is first used. ``import hashmarket`` and each CLI command thereby load just the
layers they touch (numpy, pandas, scipy and FastAPI take seconds to import together).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any


def exported_names(init_file: str) -> dict[str, str]:
    """``{name: module}`` of the ``from module import name`` statements inside the
    ``if TYPE_CHECKING:`` blocks at the top level of ``init_file``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"), filename=init_file)
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        names[alias.asname or alias.name] = statement.module
    return names


def lazy_exports(
    namespace: dict[str, Any],
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``: a
    name exported in its ``TYPE_CHECKING`` block is imported from its module on first access
    and then stored in the package namespace (later lookups are ordinary attribute reads)."""
    package, init_file = namespace["__name__"], namespace["__file__"]
    table: dict[str, str] = {}
    # A name that is also a submodule (models.calibrate, the function, in models/calibrate.py)
    # is imported now: importing the submodule later would set the package attribute to the
    # module, and __getattr__ is never asked for a name that is set.
    here = Path(init_file).parent
    for name, module in exported_names(init_file).items():
        if (here / f"{name}.py").exists() or (here / name / "__init__.py").exists():
            namespace[name] = getattr(importlib.import_module(module), name)

    def exports() -> dict[str, str]:
        if not table:
            table.update(exported_names(init_file))
        return table

    def getattr_(name: str) -> Any:
        module = exports().get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(exports()))

    return getattr_, dir_
