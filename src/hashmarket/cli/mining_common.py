"""What ``hashmarket cloud``, ``hosting`` and ``lease`` share: reading a contract spec (a
catalogue machine filling in its figures), the calibrated market from the as-of date, the
published fixings a ledger run reads, and printing a result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from hashmarket.cli.common import OutputFormat, console, emit_json, load_history_asof, parse_date
from hashmarket.errors import SpecError, UsageError

if TYPE_CHECKING:
    from hashmarket.index import AsOf
    from hashmarket.instruments import Fixings
    from hashmarket.models import NetworkModel
    from hashmarket.pricing import Market, MonteCarloConfig

T = TypeVar("T")

PATHS_OPTION = typer.Option(5_000, "--paths", help="Simulated paths.")
THROUGH_OPTION = typer.Option(
    None,
    "--through",
    help="Last day to book, YYYY-MM-DD (default: the last day with a complete fixing).",
)
MEASURE_OPTION = typer.Option(
    "risk_neutral",
    "--measure",
    help="risk_neutral (a price: BTC drifts at the rates) or model (the calibrated drift).",
)
ID_OPTION_HELP = "The contract's id: its movements' ids derive from it (re-runs book nothing)."


def read_contract(path: Path, cls: type[T]) -> T:
    """The contract of type ``cls`` in the spec file ``path``; a ``machine_model`` from the
    ASIC catalogue fills in TH/s and J/TH the spec leaves out."""
    from hashmarket.operations import parse_contract
    from hashmarket.specfile import located, read_document

    document, location = read_document(path, what="contract spec", error=SpecError)
    with located(location):
        return parse_contract(document, cls)


def scenario_inputs(
    contract: Any,
    *,
    asof: str | None,
    paths: int,
    seed: int,
    measure: str,
    data_dir: Path | None,
    commercial_only: bool,
) -> tuple[Market, NetworkModel, MonteCarloConfig, AsOf]:
    """The calibrated market and model at the as-of date, with the realized fixings of a
    contract that has started, and the Monte Carlo configuration."""
    from hashmarket.pricing import (
        MonteCarloConfig,
        ValuationSetup,
        calibrated,
        market_with_past,
    )

    if paths <= 0:
        raise UsageError("bad_option", option="--paths", problem="must be a positive number")
    if measure not in ("risk_neutral", "model"):
        raise UsageError("bad_option", option="--measure", problem="risk_neutral or model")
    history, resolved = load_history_asof(data_dir, commercial_only, asof, False)
    setup = ValuationSetup(asof=resolved.date)
    calibration = calibrated(history, setup)
    market = market_with_past(contract, history=history, calibration=calibration, setup=setup)
    config = MonteCarloConfig(
        n_paths=paths,
        seed=seed,
        workers=1,
        measure="model" if measure == "model" else "risk_neutral",
    )
    return market, calibration.model, config, resolved


def published_through(
    first: dt.date, through: str | None, *, data_dir: Path | None, commercial_only: bool
) -> tuple[Fixings | None, dt.date]:
    """The published fixings from ``first`` to ``--through`` (default: the as-of date)."""
    from hashmarket.ledger.mining import published_path

    history, resolved = load_history_asof(data_dir, commercial_only, None, False)
    last = parse_date(through, "--through") or resolved.date
    if last > history.last_date:
        raise UsageError(
            "bad_option",
            option="--through",
            problem=f"{last} is after the last day of data ({history.last_date})",
        )
    if last < first:
        return None, last
    return published_path(history, first, last), last


def _flat(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Scalar fields, a nested mapping's as ``field key``; lists are left out."""
    out: list[tuple[str, Any]] = []
    for key, value in record.items():
        if isinstance(value, Mapping):
            out += [(f"{key} {k}", v) for k, v in _flat(value)]
        elif not isinstance(value, list):
            out.append((key, value))
    return out


def emit(
    record: Mapping[str, Any], fmt: OutputFormat, title: str, *, line: str | None = None
) -> None:
    """A result as JSON; for people, ``line`` if given, else a two-column table of its
    scalar fields."""
    if fmt is not OutputFormat.TABLE:
        emit_json(dict(record))
        return
    if line is not None:
        console().print(line)
        return
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value", justify="right")
    for key, value in _flat(record):
        if isinstance(value, Decimal):
            value = float(value)
        if isinstance(value, float):
            value = f"{value:,.6g}" if abs(value) < 1 else f"{value:,.2f}"
        table.add_row(key, str(value))
    console().print(table)
