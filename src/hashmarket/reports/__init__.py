"""Presentation shared by the CLI and the HTTP API: HTML reports, their tables and charts,
and numbers formatted for people.

Domain packages return data (dataclasses, arrays, DataFrames), never markup; this layer turns
that data into something to read. It sits beside ``api`` and ``cli`` at the end of the flow and
may import any domain layer; no domain layer imports it.

* :mod:`~hashmarket.reports.format` — a number as people read it (the CLI's tables use it too);
* :mod:`~hashmarket.reports.html` — the style sheet, tables, notes and page of every report;
* :mod:`~hashmarket.reports.risk` — portfolio risk, hedge plan, loan and leverage (Plotly);
* :mod:`~hashmarket.reports.dispatch` — a dispatch comparison (inline SVG).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.reports.dispatch import dispatch_html
    from hashmarket.reports.format import number
    from hashmarket.reports.risk import hedge_html, leverage_html, loan_html, portfolio_html

__all__ = [
    "dispatch_html",
    "hedge_html",
    "leverage_html",
    "loan_html",
    "number",
    "portfolio_html",
]

__getattr__, __dir__ = lazy_exports(globals())
