"""``hashmarket curve hashprice`` and ``hashmarket price SPEC``: the forward curve and the
value of an instrument, from models calibrated as of a date — on the network history for
network contracts, on GPU-hour index fixings of quotes for compute contracts (the pricing
registry says which an engine prices on)."""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from hashmarket.chain import NetworkHistory
from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DASK_WORKERS_OPTION,
    DATA_DIR_OPTION,
    PRICE_MODEL_OPTION,
    SCHEDULER_OPTION,
    SEED_OPTION,
    USD_RATE_OPTION,
    WORKERS_OPTION,
    OutputFormat,
    PriceModelChoice,
    bar,
    console,
    emit_records,
    jsonable,
    load_history_asof,
    parse_date,
    positive,
    print_asof,
    progress_bar,
    resolve_scheduler,
)
from hashmarket.errors import UsageError
from hashmarket.index import (
    BUNDLED_QUOTES_FILE,
    EXAMPLE_POWER_FILE,
    load_bundled_quotes,
    load_example_power_prices,
    read_power_prices,
    read_quotes,
)
from hashmarket.instruments import (
    ComputeForward,
    ComputeLease,
    SettlementCurrency,
    load_spec,
    to_spec,
)
from hashmarket.models import Calibration
from hashmarket.pricing import (
    COMPUTE,
    REGIONAL,
    ComputeSetup,
    HashpriceCurve,
    MonteCarloConfig,
    PricingResult,
    ValuationSetup,
    calibrated,
    compute_index_of,
    compute_setup,
    engine_for,
    forward_curve,
    horizon_days,
    price,
    regional_setup,
    value_instrument,
)
from hashmarket.reports import number

if TYPE_CHECKING:
    from hashmarket.index import AsOf

curve_app = typer.Typer(help="Forward curves from the calibrated models.", no_args_is_help=True)


class VolChoice(enum.StrEnum):
    FULL = "full"
    EWMA = "ewma"


class EngineChoice(enum.StrEnum):
    MC = "mc"
    ANALYTIC = "analytic"


class MethodChoice(enum.StrEnum):
    PLAIN = "plain"
    PSEUDO = "pseudo"
    SOBOL = "sobol"


class PriceFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


VOL_OPTION = typer.Option(
    VolChoice.FULL, "--vol", help="Volatility estimator: full (3-year sample) or ewma (λ 0.94)."
)
BTC_RATE_OPTION = typer.Option(0.0, "--btc-rate", help="Flat BTC lending rate.")
POWER_PRICES_OPTION = typer.Option(
    None,
    "--power-prices",
    help="Daily regional power prices CSV for regional contracts (date, region, "
    "price_usd_per_kwh or price_usd_per_mwh); default: the GENERATED example series.",
)


def _setup(price_model: str, vol: str, usd_rate: float, btc_rate: float) -> ValuationSetup:
    return ValuationSetup(
        price_model="merton" if price_model == "merton" else "gbm",
        vol_estimator="ewma" if vol == "ewma" else "full",
        usd_rate=usd_rate,
        btc_rate=btc_rate,
    )


def _calibrated(
    data_dir: Path | None,
    commercial_only: bool,
    setup: ValuationSetup,
    asof: str | None,
    allow_subsidy_only: bool,
) -> tuple[NetworkHistory, Calibration, AsOf]:
    """The history, the models calibrated as of the resolved as-of date, and that date."""
    history, resolved = load_history_asof(data_dir, commercial_only, asof, allow_subsidy_only)
    return history, calibrated(history, replace(setup, asof=resolved.date)), resolved


# ---- curve -------------------------------------------------------------------------------


def _parse_quotes(quotes: list[str]) -> dict[str, float]:
    """``MONTH=PRICE`` items; the month (``YYYY-MM`` or ``M+k``) is checked against the
    curve, whose months depend on the as-of date."""
    out = {}
    for item in quotes:
        month, sep, value = item.partition("=")
        try:
            if not sep or not month.strip():
                raise ValueError
            out[month.strip()] = float(value)
        except ValueError:
            raise UsageError(
                "bad_option",
                option="--quote",
                problem=f"{item!r} is not YYYY-MM=PRICE or M+k=PRICE",
            ) from None
    return out


def render_curve(curve: HashpriceCurve, calibration: Calibration) -> None:
    unit = f"{curve.currency.upper()}/PH/s/day"
    digits = 2 if curve.currency == "usd" else 8
    title = (
        f"Hashprice forward curve, {unit}, as of {curve.asof} "
        f"({curve.n_paths:,} paths, seed {curve.seed})"
    )
    table = Table(title=title, title_justify="left")
    columns = ["month", "mean", "± s.e.", "P5", "P50", "P95", "P5 ─ P95"]
    if curve.shifted:
        columns[1:1] = ["quote", "model mean"]
    for name in columns:
        table.add_column(name, justify="left" if name in ("month", "P5 ─ P95") else "right")
    low = min(p.p5 * p.shift_factor for p in curve.points)
    high = max(p.p95 * p.shift_factor for p in curve.points)
    for p in curve.points:
        f = p.shift_factor
        band = bar(p.p95 * f, low, high, width=20)
        lead = bar(p.p5 * f, low, high, width=20)
        cell = " " * len(lead) + f"[cyan]{band[len(lead) :]}[/cyan]"
        row = [
            p.month,
            number(p.mean * f, digits),
            number(p.std_error * f, digits + 2),
            number(p.p5 * f, digits),
            number(p.p50 * f, digits),
            number(p.p95 * f, digits),
            cell,
        ]
        if curve.shifted:
            row[1:1] = [number(p.quote, digits), number(p.mean, digits)]
        table.add_row(*row)
    out = console()
    out.print(table)
    out.print(
        f"spot {number(curve.spot, digits)} {unit} (the fixing of {curve.asof}); "
        f"BTC {number(calibration.state.price_usd, 0)} USD, "
        f"vol {calibration.model.price.vol_per_year:.0%}; "
        f"hashrate {calibration.state.hashrate_ths / 1e6:,.0f} EH/s, "
        f"difficulty {calibration.state.difficulty / 1e12:,.2f} T, "
        f"height {calibration.state.height:,}"
    )
    for note in calibration.report.notes:
        out.print(f"note: {note}")


@curve_app.command("hashprice")
def curve_hashprice_command(
    asof: str | None = ASOF_OPTION,
    months: int = typer.Option(12, "--months", help="Calendar months after the as-of month."),
    paths: int = typer.Option(20_000, "--paths", help="Simulated paths."),
    seed: int = SEED_OPTION,
    currency: SettlementCurrency = typer.Option(
        SettlementCurrency.USD, "--currency", help="usd or btc per PH/s per day."
    ),
    quote: list[str] = typer.Option(
        [],
        "--quote",
        help="A quoted forward, YYYY-MM=PRICE or M+k=PRICE (k-th month after the as-of month; "
        "repeat); the curve is shifted.",
    ),
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    vol: VolChoice = VOL_OPTION,
    usd_rate: float = USD_RATE_OPTION,
    btc_rate: float = BTC_RATE_OPTION,
    workers: int = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    dask_workers: int | None = DASK_WORKERS_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: OutputFormat = typer.Option(OutputFormat.TABLE, "--format", help="Output format."),
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Expected hashprice per month with P5/P50/P95 bands, from the network model."""
    positive(paths, "--paths")
    positive(months, "--months")
    positive(workers, "--workers")
    quotes = _parse_quotes(quote)
    setup = _setup(price_model, vol, usd_rate, btc_rate)
    _, calibration, resolved = _calibrated(
        data_dir, commercial_only, setup, asof, allow_subsidy_only
    )
    cluster = resolve_scheduler(scheduler, dask_workers)
    config = MonteCarloConfig(n_paths=paths, seed=seed, workers=workers, scheduler=cluster)
    with progress_bar("simulating", paths * months * 31, paths) as progress:
        curve = forward_curve(
            calibration=calibration,
            setup=setup,
            months=months,
            config=config,
            currency=currency,
            quotes=quotes,
            progress=progress,
        )
    if fmt is OutputFormat.TABLE:
        render_curve(curve, calibration)
    elif fmt is OutputFormat.JSON:
        payload = {
            "asof": curve.asof.isoformat(),
            "currency": curve.currency,
            "unit": f"{curve.currency}_per_ph_day",
            "n_paths": curve.n_paths,
            "seed": curve.seed,
            f"spot_{curve.currency}_per_ph_day": curve.spot,
            "months": curve.to_records(),
            "diagnostics": curve.diagnostics,
            "calibration": calibration.report.to_dict(),
            "data_asof": resolved.to_dict(),
        }
        typer.echo(json.dumps(payload, indent=2, default=jsonable))
    else:
        emit_records(curve.to_records(), fmt)
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)


# ---- price -------------------------------------------------------------------------------


def render_price(
    result: PricingResult, spec: dict[str, Any], asof: dt.date, notes: Sequence[str]
) -> None:
    digits = 2 if result.currency == "usd" else 8
    unit = result.currency.upper()
    table = Table(title=f"{spec['type']} as of {asof}", title_justify="left")
    table.add_column("", justify="left")
    table.add_column("value", justify="right")
    table.add_row("value", f"{number(result.value, digits)} {unit}")
    if result.engine == "mc":
        half = 1.96 * result.std_error
        table.add_row("standard error", f"{number(result.std_error, digits)} {unit}")
        table.add_row(
            "95% interval",
            f"{number(result.value - half, digits)} … {number(result.value + half, digits)}",
        )
        table.add_row("paths", f"{result.n_paths:,} (seed {result.seed})")
    table.add_row("engine", result.engine)
    for name, value in result.greeks.items():
        table.add_row(name, f"{value:,.6g}")
    for key in ("horizon_days", "measure", "block_arrivals", "method"):
        if key in result.diagnostics:
            table.add_row(key, str(result.diagnostics[key]))
    out = console()
    out.print(table)
    terms = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
    out.print(f"terms: {terms}")
    for note in notes:
        out.print(f"note: {note}")


def describe_compute(setup: ComputeSetup) -> str:
    """One line: the as-of date and why, the spot fixing and its source, the model."""
    model = setup.model
    how = (
        f"fitted on {setup.calibrated_on} daily fixings"
        if setup.calibrated_on
        else "assumed, see the notes"
    )
    return (
        f"as of {setup.market.asof} ({setup.asof_from}); spot "
        f"{setup.market.gpu_price_usd_per_gpu_hour:,.4f} USD/GPU-hour = the {setup.gpu_model} "
        f"{setup.term} index fixing of {setup.spot_date} from {setup.source}; GPU model: mean "
        f"{model.mean_usd_per_gpu_hour:,.4f} USD/GPU-hour, half-life "
        f"{model.half_life_days:,.1f} days, vol {model.vol_usd_per_year:,.4f} USD/GPU-hour/√yr "
        f"({how})"
    )


def price_command(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Instrument spec, JSON or YAML."),
    paths: int = typer.Option(20_000, "--paths", help="Simulated paths."),
    seed: int = SEED_OPTION,
    asof: str | None = ASOF_OPTION,
    engine: EngineChoice = typer.Option(
        EngineChoice.MC, "--engine", help="mc (every instrument) or analytic (closed forms)."
    ),
    greeks: bool = typer.Option(False, "--greeks", help="Add bumped Greeks (common paths)."),
    method: MethodChoice = typer.Option(
        MethodChoice.PLAIN,
        "--method",
        help="Monte Carlo paths: plain (every network field every day), pseudo (only what "
        "the payoff reads, control variates) or sobol (as pseudo, scrambled Sobol points; "
        "the error from 16 randomizations).",
    ),
    price_model: PriceModelChoice = PRICE_MODEL_OPTION,
    vol: VolChoice = VOL_OPTION,
    usd_rate: float = USD_RATE_OPTION,
    btc_rate: float = BTC_RATE_OPTION,
    workers: int = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    dask_workers: int | None = DASK_WORKERS_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: PriceFormat = typer.Option(PriceFormat.TABLE, "--format", help="table or json."),
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    gpu_quotes: Path | None = typer.Option(
        None,
        "--gpu-quotes",
        help="GPU quotes CSV for compute contracts (default: the bundled sample); the "
        "GPU-hour index fixings of the contract's model and term give the spot and the model.",
    ),
    power_prices: Path | None = POWER_PRICES_OPTION,
) -> None:
    """Value an instrument described by a JSON or YAML spec."""
    positive(paths, "--paths")
    positive(workers, "--workers")
    instrument = load_spec(spec_path)
    cluster = resolve_scheduler(scheduler, dask_workers)
    config = MonteCarloConfig(
        n_paths=paths,
        seed=seed,
        workers=workers,
        greeks=greeks,
        method=method.value,
        scheduler=cluster,
    )
    if engine_for(type(instrument), engine.value).inputs is COMPUTE:
        assert isinstance(instrument, ComputeForward | ComputeLease)  # what COMPUTE prices
        _price_compute(instrument, gpu_quotes, asof, usd_rate, config, engine, fmt)
        return
    setup = _setup(price_model, vol, usd_rate, btc_rate)
    history, calibration, resolved = _calibrated(
        data_dir, commercial_only, setup, asof, allow_subsidy_only
    )
    state = calibration.state
    work = paths * horizon_days(instrument, calibration) if engine is EngineChoice.MC else 0
    with progress_bar("pricing", work, paths) as progress:
        run = (history, calibration, setup, config, engine.value, progress)
        result, extra = _value(instrument, run, power_prices)
    spec = to_spec(instrument)
    if fmt is PriceFormat.JSON:
        payload = {
            "instrument": spec,
            "asof": state.asof.isoformat(),
            **result.to_dict(),
            "calibration": calibration.report.to_dict(),
            "data_asof": resolved.to_dict(),
            **extra,
        }
        typer.echo(json.dumps(payload, indent=2, default=jsonable))
    else:
        notes = [*calibration.report.notes, *extra.get("regional", {}).get("notes", [])]
        render_price(result, spec, state.asof, notes)
        if "regional" in extra:
            console().print(describe_regional(extra["regional"]), markup=False, highlight=False)
    print_asof(resolved, machine=fmt is not PriceFormat.TABLE)


def _value(
    instrument: Any,
    run: tuple[NetworkHistory, Calibration, ValuationSetup, MonteCarloConfig, str, Any],
    power_prices: Path | None,
) -> tuple[PricingResult, dict[str, Any]]:
    """The value of a network or regional contract, and what else a regional one reports."""
    history, calibration, setup, config, engine, progress = run
    if engine_for(type(instrument), engine).inputs is not REGIONAL:
        result = value_instrument(
            instrument,
            history=history,
            calibration=calibration,
            setup=setup,
            config=config,
            engine=engine,
            progress=progress,
        )
        return result, {}
    if power_prices is None:
        prices = load_example_power_prices()
        source = f"{EXAMPLE_POWER_FILE} (GENERATED example prices, not market data)"
    else:
        prices, source = read_power_prices(power_prices), str(power_prices)
    regional = regional_setup(
        instrument,
        history=history,
        calibration=calibration,
        setup=setup,
        prices=prices,
        source=source,
    )
    result = price(
        instrument,
        market=regional.market,
        model=regional.model,
        config=config,
        engine=engine,
        progress=progress,
    )
    return result, {"regional": regional.to_dict()}


def describe_regional(regional: dict[str, Any]) -> str:
    """One line per region: the spot and the fitted power model, correlation included."""
    lines = [f"power prices: {regional['source']}"]
    for r in regional["regions"]:
        lines.append(
            f"{r['region']}: spot {r['spot_usd_per_kwh']:.5f} USD/kWh ({r['spot_date']}); "
            f"log-OU median {r['median_usd_per_kwh']:.5f} USD/kWh, half-life "
            f"{r['half_life_days']:.1f} days, vol {r['vol_per_year']:.0%}/√yr, correlation "
            f"to hashprice {r['correlation_to_hashprice']:+.3f} (fitted on "
            f"{r['observations']} daily changes, {r['first']} to {r['last']})"
        )
    return "\n".join(lines)


def _price_compute(
    instrument: ComputeForward | ComputeLease,
    gpu_quotes: Path | None,
    asof: str | None,
    usd_rate: float,
    config: MonteCarloConfig,
    engine: EngineChoice,
    fmt: PriceFormat,
) -> None:
    """A compute contract: the GPU model and market from the quotes' index fixings."""
    quotes = read_quotes(gpu_quotes) if gpu_quotes is not None else load_bundled_quotes()
    gpu_model, term = compute_index_of(instrument)
    setup = compute_setup(
        quotes,
        gpu_model=gpu_model,
        term=term,
        asof=parse_date(asof, "--asof"),
        usd_rate=usd_rate,
        source=str(gpu_quotes) if gpu_quotes is not None else BUNDLED_QUOTES_FILE,
    )
    result = price(
        instrument, market=setup.market, model=setup.model, config=config, engine=engine.value
    )
    spec = to_spec(instrument)
    if fmt is PriceFormat.JSON:
        payload = {
            "instrument": spec,
            "asof": setup.market.asof.isoformat(),
            **result.to_dict(),
            "gpu_index": setup.to_dict(),
        }
        typer.echo(json.dumps(payload, indent=2, default=jsonable))
        Console(stderr=True).print(describe_compute(setup), markup=False, highlight=False)
    else:
        delivery = result.diagnostics.get("delivery")
        notes = [*setup.notes, *([delivery] if delivery else [])]
        render_price(result, spec, setup.market.asof, notes)
        console().print(describe_compute(setup), markup=False, highlight=False)
