"""Each package is used through its face: the names its ``__init__`` lists in ``__all__``.

A module inside a package may import its own package's modules freely; from any other package
it imports only the face (``hashmarket.ledger``, or a subpackage face such as
``hashmarket.chain.sources``), so a package's modules can be split, merged or renamed without
touching the rest of the code base. Tests may reach behind a face; the library may not.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import hashmarket

SRC = Path(hashmarket.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FACES = sorted(_module_name(p) for p in SRC.rglob("__init__.py"))
MODULES = sorted(p for p in SRC.rglob("*.py") if p.name != "__init__.py")


def _top_package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _behind_face(imported: str) -> bool:
    """True when ``imported`` is a module inside a package rather than a package's face."""
    return imported.count(".") >= 2 and imported not in FACES


@pytest.mark.parametrize("face", [f for f in FACES if f != "hashmarket.data"])
def test_every_exported_name_resolves(face: str) -> None:
    package = importlib.import_module(face)
    exported = getattr(package, "__all__", None)
    if face in ("hashmarket.api.routers", "hashmarket.cli"):
        return
    assert exported, f"{face} has no __all__"
    assert len(set(exported)) == len(exported), f"{face}.__all__ lists a name twice"
    missing = [name for name in exported if not hasattr(package, name)]
    assert not missing, f"{face}.__all__ names {missing} that it does not provide"


def test_other_packages_are_imported_through_their_faces() -> None:
    offenders = []
    for path in MODULES:
        here = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            target = node.module
            if not target.startswith("hashmarket.") or _top_package(target) == _top_package(here):
                continue
            if _behind_face(target):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: from {target}")
    assert not offenders, "import through the package face instead:\n" + "\n".join(offenders)


def test_the_guard_sees_a_violation() -> None:
    # The check above must be able to fail: a submodule of another package is behind a face.
    assert _behind_face("hashmarket.ledger.core")
    assert not _behind_face("hashmarket.ledger")
    assert not _behind_face("hashmarket.chain.sources")
