"""The presentation layer: numbers as people read them, HTML tables, and the rule that domain
packages return data and never import the layer that draws it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from hashmarket.reports.format import number
from hashmarket.reports.html import page, table

SRC = Path(__file__).resolve().parents[2] / "src" / "hashmarket"
DOMAIN = ("chain", "index", "models", "instruments", "pricing", "operations", "ledger", "risk")
EDGES = ("hashmarket.reports", "hashmarket.cli", "hashmarket.api")


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (1234567.891, 2, "1,234,567.89"),
        (1234567.891, 0, "1,234,568"),
        (-0.4, 0, "0"),  # a loss that rounds to nothing is nothing, not "-0"
        (-0.004, 2, "0.00"),
        (-0.006, 2, "-0.01"),
        (float("nan"), 2, "—"),
        (float("-inf"), 0, "—"),
        (None, 0, "—"),
        (np.float64(2.5e6), 1, "2,500,000.0"),
        (np.int64(-42), 0, "-42"),
        (7, 3, "7.000"),
        ("optimal", 2, "optimal"),
    ],
)
def test_number(value: object, digits: int, text: str) -> None:
    assert number(value, digits) == text


def test_table_right_aligns_numbers_and_escapes_text() -> None:
    html = table(["a<b", "USD"], [[("x & y", None), (1234.5, 1)], [("z", None), (None, 0)]])
    assert html == (
        "<table><tr><th>a&lt;b</th><th>USD</th></tr>"
        '<tr><td>x &amp; y</td><td class="n">1,234.5</td></tr>'
        '<tr><td>z</td><td class="n">—</td></tr></table>'
    )


def test_page_is_one_self_contained_document() -> None:
    html = page("Loan <1>", ["<h2>s</h2>"], subtitle="as of 2026-01-22", script="var x = 1;")
    assert html.startswith("<!doctype html><html lang='en'><head><meta charset='utf-8'>")
    assert "<title>Loan &lt;1&gt;</title>" in html and "<h1>Loan &lt;1&gt;</h1>" in html
    assert "<script type='text/javascript'>var x = 1;</script></head>" in html
    assert "<p class='note'>as of 2026-01-22</p><h2>s</h2>" in html
    assert html.endswith("</body></html>") and "src=" not in html


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_import_no_presentation_or_interface(package: str) -> None:
    modules = sorted((SRC / package).rglob("*.py"))
    assert modules
    for path in modules:
        wrong = {m for m in imported_modules(path) if m.startswith(EDGES)}
        assert not wrong, f"{path.relative_to(SRC)} imports {sorted(wrong)}"
