"""The shape of the code: no module over 600 lines and no function over 80 lines in
``src/hashmarket``, unless it says why.

A long function is exempt when its ``def`` line, or the line above it (above its decorators,
if any), carries a comment ``# long: <reason>``; a long module when one of its first three
lines does. The reason is
required: an exception that does not say why is not one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import NamedTuple

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "hashmarket"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
# `# long:` followed by a reason (at least one word character).
LONG = re.compile(r"#\s*long:\s*\w")


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


class Function(NamedTuple):
    qualname: str
    line: int  # the ``def`` line
    length: int  # from the ``def`` line (option declarations included) to the body's end
    top: int  # its first decorator's line, else the ``def`` line


def function_lengths(source: str) -> list[Function]:
    """Every function and method in ``source``, nested ones included."""
    out: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, FunctionNode):
                name = f"{prefix}{child.name}"
                assert child.end_lineno is not None
                length = child.end_lineno - child.lineno + 1
                top = min([child.lineno] + [d.lineno for d in child.decorator_list])
                out.append(Function(name, child.lineno, length, top))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def _marked(lines: list[str], function: Function) -> bool:
    """``# long: <reason>`` on the ``def`` line, the line above it or above its decorators."""
    candidates = {function.line, function.line - 1, function.top - 1}
    return any(LONG.search(lines[n - 1]) for n in candidates if 1 <= n <= len(lines))


def long_functions(source: str, name: str) -> list[str]:
    """The functions of module ``name`` (its ``source``) over the limit and not exempt."""
    lines = source.splitlines()
    return [
        f"{name}:{f.line} {f.qualname} is {f.length} lines"
        for f in function_lengths(source)
        if f.length > MAX_FUNCTION_LINES and not _marked(lines, f)
    ]


def test_no_function_over_80_lines_without_a_reason() -> None:
    found = [
        problem
        for path in _modules()
        for problem in long_functions(path.read_text(encoding="utf-8"), _name(path))
    ]
    assert not found, "split these functions or mark them `# long: <reason>`:\n" + "\n".join(found)


def long_module(source: str, name: str) -> str | None:
    """What is wrong with module ``name`` if it is over the limit and not exempt."""
    lines = source.splitlines()
    if len(lines) > MAX_MODULE_LINES and not any(LONG.search(line) for line in lines[:3]):
        return f"{name} is {len(lines)} lines"
    return None


def test_no_module_over_600_lines_without_a_reason() -> None:
    found = [
        problem
        for path in _modules()
        if (problem := long_module(path.read_text(encoding="utf-8"), _name(path)))
    ]
    assert not found, "split these modules or mark them `# long: <reason>`:\n" + "\n".join(found)


def test_the_check_flags_a_long_module_unless_it_says_why() -> None:
    body = "\n".join(f"x{i} = {i}" for i in range(601)) + "\n"
    assert long_module(body, "m.py") == "m.py is 601 lines"
    assert long_module('"""Doc."""\n' + body[: body.index("x599")], "m.py") is None  # 600 lines
    assert long_module("# long: generated tables\n" + body, "m.py") is None
    assert long_module("# long:\n" + body, "m.py") == "m.py is 602 lines"


LONG_BODY = "\n".join(f"    x{i} = {i}" for i in range(81))


@pytest.mark.parametrize(
    ("header", "flagged"),
    [
        ("def f() -> None:\n", True),
        ("def f() -> None:  # long: one table, read top to bottom\n", False),
        ("# long: one table, read top to bottom\ndef f() -> None:\n", False),
        ("# long:\ndef f() -> None:\n", True),  # no reason given
        ("# long: a reason two lines up\n\ndef f() -> None:\n", True),
    ],
)
def test_the_check_flags_a_long_function_unless_it_says_why(header: str, flagged: bool) -> None:
    source = header + LONG_BODY + "\n"
    assert [f.length for f in function_lengths(source)] == [82]
    found = long_functions(source, "example.py")
    assert bool(found) is flagged
    if flagged:
        assert found[0].endswith("f is 82 lines")


def test_a_function_of_80_lines_passes() -> None:
    source = "def f() -> None:\n" + "\n".join(f"    x{i} = {i}" for i in range(79)) + "\n"
    assert function_lengths(source) == [("f", 1, 80, 1)]
    assert long_functions(source, "example.py") == []


def test_lengths_count_methods_and_nested_functions() -> None:
    source = "class A:\n    def m(self):\n        def inner():\n            return 1\n\n"
    source += "        return inner()\n"
    assert function_lengths(source) == [("A.m", 2, 5, 2), ("A.m.inner", 3, 2, 3)]


def test_a_reason_above_the_decorators_counts_and_decorators_do_not() -> None:
    source = "# long: a command's options, read by typer\n@app.command()\n@other\n"
    source += "def f() -> None:\n" + LONG_BODY + "\n"
    (function,) = function_lengths(source)
    assert function == ("f", 4, 82, 2)
    assert long_functions(source, "example.py") == []
    assert long_functions(source.split("\n", 1)[1], "example.py") == ["example.py:3 f is 82 lines"]
