"""``hashmarket miner …``: fleet breakeven, profit on the index history, payback."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import typer
from rich.table import Table

from hashmarket.chain import NetworkHistory
from hashmarket.cli.common import (
    ALLOW_SUBSIDY_ONLY_OPTION,
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    OutputFormat,
    console,
    emit_records,
    jsonable,
    load_history_asof,
    parse_date,
    print_asof,
)
from hashmarket.cli.miner_payback import (
    PaybackBasis,
    PaybackOutcome,
    capex_from_options,
    payback_on_history,
    payback_on_models,
)
from hashmarket.errors import UsageError
from hashmarket.index import hashprice_table
from hashmarket.operations import (
    Breakeven,
    Costs,
    Fleet,
    Machine,
    breakeven,
    load_catalogue,
    profit_on_history,
)

if TYPE_CHECKING:
    from hashmarket.index import AsOf

app = typer.Typer(
    help="Fleet economics: breakeven, profit on the hashprice index, payback.",
    no_args_is_help=True,
)

HASHPRICE_COLUMN = "hashprice_usd_per_ph_day"
DEFAULT_LAST_DAYS = 30
DEFAULT_HORIZON_DAYS = 5 * 365

MACHINE_OPTION = typer.Option(
    None, "--machine", help="Model from the catalogue (`hashmarket miner models`), e.g. S21."
)
HASHRATE_OPTION = typer.Option(None, "--hashrate-ths", help="Custom machine: TH/s per machine.")
POWER_W_OPTION = typer.Option(None, "--power-w", help="Custom machine: watts per machine.")
COUNT_OPTION = typer.Option(1, "--count", help="Number of machines.")
POWER_PRICE_OPTION = typer.Option(..., "--power-usd-per-kwh", help="Power price, USD per kWh.")
POOL_FEE_OPTION = typer.Option(0.0, "--pool-fee", help="Pool fee as a fraction (0.02 = 2 %).")
HOSTING_OPTION = typer.Option(
    0.0, "--hosting-usd-per-kwh", help="Hosting charge per kWh drawn, on top of power."
)
SERVICE_OPTION = typer.Option(
    0.0, "--service-usd-per-th-day", help="Service/maintenance fee per TH/s per day."
)
FIXED_OPTION = typer.Option(
    0.0, "--fixed-usd-per-day", help="Fixed costs per day, paid running or not."
)
UPTIME_OPTION = typer.Option(1.0, "--uptime", help="Share of the day the fleet hashes (0–1].")


def build_fleet(
    machine: str | None, hashrate_ths: float | None, power_w: float | None, count: int
) -> Fleet:
    if count <= 0:
        raise UsageError("bad_option", option="--count", problem=f"must be >= 1, got {count}")
    if machine is not None:
        if hashrate_ths is not None or power_w is not None:
            raise UsageError(
                "bad_option",
                option="--machine",
                problem="give either --machine or --hashrate-ths with --power-w, not both",
            )
        return Fleet.of(load_catalogue().get(machine), count)
    if hashrate_ths is None or power_w is None:
        raise UsageError(
            "bad_option",
            option="--machine",
            problem="name a machine, or give both --hashrate-ths and --power-w",
        )
    for option, value in (("--hashrate-ths", hashrate_ths), ("--power-w", power_w)):
        if not (math.isfinite(value) and value > 0):
            raise UsageError("bad_option", option=option, problem=f"must be > 0, got {value}")
    return Fleet.of(Machine.custom(hashrate_ths=hashrate_ths, power_w=power_w), count)


def build_costs(
    power: float, pool_fee: float, hosting: float, service: float, fixed: float, uptime: float
) -> Costs:
    checks = (
        ("--power-usd-per-kwh", power, power >= 0, "must be >= 0"),
        ("--pool-fee", pool_fee, 0 <= pool_fee < 1, "must be a fraction in [0, 1), e.g. 0.02"),
        ("--hosting-usd-per-kwh", hosting, hosting >= 0, "must be >= 0"),
        ("--service-usd-per-th-day", service, service >= 0, "must be >= 0"),
        ("--fixed-usd-per-day", fixed, fixed >= 0, "must be >= 0"),
        ("--uptime", uptime, 0 < uptime <= 1, "must be in (0, 1]"),
    )
    for option, value, ok, problem in checks:
        if not (math.isfinite(value) and ok):
            raise UsageError("bad_option", option=option, problem=f"{problem}, got {value}")
    return Costs(
        power_price_usd_per_kwh=power,
        pool_fee_fraction=pool_fee,
        hosting_usd_per_kwh=hosting,
        service_usd_per_th_day=service,
        fixed_usd_per_day=fixed,
        uptime_fraction=uptime,
    )


def load_index(
    data_dir: Path | None, commercial_only: bool, asof: str | None, allow_subsidy_only: bool
) -> tuple[NetworkHistory, pd.Series, AsOf]:
    """The history, its USD index up to the as-of date, and the resolved as-of date."""
    history, resolved = load_history_asof(data_dir, commercial_only, asof, allow_subsidy_only)
    table = hashprice_table(history)
    return history, table[HASHPRICE_COLUMN].loc[: pd.Timestamp(resolved.date)], resolved


def _money(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def _fleet_record(fleet: Fleet) -> dict[str, Any]:
    return {
        "fleet": fleet.describe(),
        "machines": fleet.machines,
        "hashrate_ths": fleet.hashrate_ths,
        "power_w": fleet.power_w,
        "efficiency_j_per_th": round(fleet.efficiency_j_per_th, 4),
    }


def _print_pairs(title: str, pairs: list[tuple[str, str]], notes: list[str]) -> None:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("", no_wrap=True)
    table.add_column("", justify="right", no_wrap=True)
    for label, value in pairs:
        table.add_row(label, value)
    out = console()
    out.print(table)
    for note in notes:
        out.print(note)


def _emit_object(record: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps({k: jsonable(v) for k, v in record.items()}, indent=2))
    else:
        emit_records([record], fmt)


@app.command("models")
def models_command(fmt: OutputFormat = FORMAT_OPTION) -> None:
    """The catalogue of ASIC models (makers' published figures)."""
    records = [
        {
            "model": m.model,
            "maker": m.maker,
            "hashrate_ths": m.hashrate_ths,
            "power_w": m.power_w,
            "efficiency_j_per_th": round(m.efficiency_j_per_th, 2),
            "release_year": m.release_year,
            "source": m.source,
        }
        for m in load_catalogue()
    ]
    if fmt is not OutputFormat.TABLE:
        emit_records(records, fmt)
        return
    table = Table(title="ASIC models (maker's nominal figures)", title_justify="left")
    for name in ("model", "TH/s", "W", "J/TH", "year"):
        table.add_column(name, justify="left" if name == "model" else "right", no_wrap=True)
    for r in records:
        table.add_row(
            str(r["model"]),
            f"{r['hashrate_ths']:g}",
            f"{r['power_w']:g}",
            f"{r['efficiency_j_per_th']:.1f}",
            str(r["release_year"] or "—"),
        )
    console().print(table)


@app.command("breakeven")
def breakeven_command(
    machine: str | None = MACHINE_OPTION,
    hashrate_ths: float | None = HASHRATE_OPTION,
    power_w: float | None = POWER_W_OPTION,
    count: int = COUNT_OPTION,
    power: float = POWER_PRICE_OPTION,
    pool_fee: float = POOL_FEE_OPTION,
    hosting: float = HOSTING_OPTION,
    service: float = SERVICE_OPTION,
    fixed: float = FIXED_OPTION,
    uptime: float = UPTIME_OPTION,
    hashprice: float | None = typer.Option(
        None,
        "--hashprice",
        help="Hashprice, USD per PH/s per day (default: the index value of the as-of date).",
    ),
    asof: str | None = ASOF_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Breakeven and shutdown hashprice; breakeven and shutdown power price at a hashprice."""
    fleet = build_fleet(machine, hashrate_ths, power_w, count)
    costs = build_costs(power, pool_fee, hosting, service, fixed, uptime)
    as_of = "given"
    resolved: AsOf | None = None
    if hashprice is None:
        _, index, resolved = load_index(data_dir, commercial_only, asof, allow_subsidy_only)
        hashprice, as_of = float(index.iloc[-1]), resolved.date.isoformat()
    elif not (math.isfinite(hashprice) and hashprice >= 0):
        raise UsageError("bad_option", option="--hashprice", problem="must be >= 0")
    result = breakeven(fleet, costs, hashprice_usd_per_ph_day=hashprice)
    c = result.costs_usd_per_ph_day
    record: dict[str, Any] = {
        **_fleet_record(fleet),
        "breakeven_hashprice_usd_per_ph_day": result.breakeven_hashprice_usd_per_ph_day,
        "shutdown_hashprice_usd_per_ph_day": result.shutdown_hashprice_usd_per_ph_day,
        "energy_usd_per_ph_day": c.energy_usd_per_ph_day,
        "hosting_usd_per_ph_day": c.hosting_usd_per_ph_day,
        "service_usd_per_ph_day": c.service_usd_per_ph_day,
        "fixed_usd_per_ph_day": c.fixed_usd_per_ph_day,
        "pool_fee_fraction": costs.pool_fee_fraction,
        "hashprice_usd_per_ph_day": hashprice,
        "hashprice_as_of": as_of,
        "breakeven_power_price_usd_per_kwh": result.breakeven_power_price_usd_per_kwh,
        "shutdown_power_price_usd_per_kwh": result.shutdown_power_price_usd_per_kwh,
        "margin_usd_per_day": result.margin_usd_per_day,
    }
    if resolved is not None:
        print_asof(resolved, machine=fmt is not OutputFormat.TABLE)
    if fmt is not OutputFormat.TABLE:
        _emit_object(record, fmt)
        return
    _print_breakeven(fleet, costs, result, hashprice, as_of)


def _print_breakeven(
    fleet: Fleet, costs: Costs, result: Breakeven, hashprice: float, as_of: str
) -> None:
    c = result.costs_usd_per_ph_day
    margin = result.margin_usd_per_day or 0.0
    colour = "green" if margin >= 0 else "red"
    _print_pairs(
        f"{fleet.describe()}: {fleet.hashrate_ths / 1000:,.3f} PH/s, "
        f"{fleet.power_w / 1000:,.1f} kW, {fleet.efficiency_j_per_th:.2f} J/TH",
        [
            ("breakeven hashprice, USD/PH/day", _money(result.breakeven_hashprice_usd_per_ph_day)),
            ("shutdown hashprice, USD/PH/day", _money(result.shutdown_hashprice_usd_per_ph_day)),
            ("  energy, USD/PH/day", _money(c.energy_usd_per_ph_day)),
            ("  hosting, USD/PH/day", _money(c.hosting_usd_per_ph_day)),
            ("  service, USD/PH/day", _money(c.service_usd_per_ph_day)),
            ("  fixed, USD/PH/day", _money(c.fixed_usd_per_ph_day)),
            ("  pool fee", f"{costs.pool_fee_fraction:.2%}"),
            (f"hashprice ({as_of}), USD/PH/day", _money(hashprice)),
            (
                "breakeven power price, USD/kWh",
                _money(result.breakeven_power_price_usd_per_kwh, 4),
            ),
            ("shutdown power price, USD/kWh", _money(result.shutdown_power_price_usd_per_kwh, 4)),
            ("margin, USD/day", f"[{colour}]{_money(margin)}[/{colour}]"),
        ],
        [
            "Shutdown: below it a running machine loses more than a switched-off one "
            "(power and hosting are avoidable; service and fixed costs are not)."
        ],
    )


def _select(series: pd.Series, start: str | None, end: str | None, last: int | None) -> pd.Series:
    lo, hi = parse_date(start, "--start"), parse_date(end, "--end")
    if last is not None and last <= 0:
        raise UsageError("bad_option", option="--last", problem=f"must be > 0, got {last}")
    rows = series.loc[pd.Timestamp(lo) if lo else None : pd.Timestamp(hi) if hi else None]
    rows = rows.dropna()
    if last is None and lo is None and hi is None:
        last = DEFAULT_LAST_DAYS
    if last is not None:
        rows = rows.tail(last)
    if rows.empty:
        raise UsageError(
            "unknown_date_range", start=lo or "the first day", end=hi or "the last day"
        )
    return rows


@app.command("profit")
def profit_command(
    machine: str | None = MACHINE_OPTION,
    hashrate_ths: float | None = HASHRATE_OPTION,
    power_w: float | None = POWER_W_OPTION,
    count: int = COUNT_OPTION,
    power: float = POWER_PRICE_OPTION,
    pool_fee: float = POOL_FEE_OPTION,
    hosting: float = HOSTING_OPTION,
    service: float = SERVICE_OPTION,
    fixed: float = FIXED_OPTION,
    uptime: float = UPTIME_OPTION,
    start: str | None = typer.Option(None, "--start", help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(
        None, "--end", help="Last day, YYYY-MM-DD (default: the as-of date)."
    ),
    last: int | None = typer.Option(None, "--last", help="Only the latest N days."),
    curtail: bool = typer.Option(
        False, "--curtail", help="Switch off on days below the shutdown hashprice."
    ),
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Daily margin on the hashprice index history (the 30 days to the as-of date by
    default)."""
    fleet = build_fleet(machine, hashrate_ths, power_w, count)
    costs = build_costs(power, pool_fee, hosting, service, fixed, uptime)
    history, index, resolved = load_index(data_dir, commercial_only, None, allow_subsidy_only)
    if end is not None:  # an explicit --end may go past the as-of date
        index = hashprice_table(history)[HASHPRICE_COLUMN]
    series = _select(index, start, end, last)
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)
    report = profit_on_history(fleet, costs, hashprice_usd_per_ph_day=series, curtail=curtail)
    days = report.days
    summary = {
        **_fleet_record(fleet),
        "first_day": days.index[0].date().isoformat(),
        "last_day": days.index[-1].date().isoformat(),
        "days": report.days_counted,
        "days_losing": report.days_losing,
        "days_curtailed": report.curtailed_days,
        "total_margin_usd": report.total_margin_usd,
        "status": report.status,
    }
    records = [
        {"date": d.date().isoformat(), **{k: jsonable(v) for k, v in row.items()}}
        for d, row in days.iterrows()
    ]
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps({"summary": summary, "days": records}, indent=2))
        return
    if fmt is OutputFormat.CSV:
        emit_records(records, fmt)
        return
    table = Table(
        title=f"{fleet.describe()} on the hashprice index (USD per day)", title_justify="left"
    )
    for name in ("date", "hashprice", "revenue", "energy+hosting", "service+fixed", "margin"):
        table.add_column(name, justify="left" if name == "date" else "right", no_wrap=True)
    for r in records:
        colour = "green" if r["margin_usd"] >= 0 else "red"
        table.add_row(
            r["date"],
            _money(r["hashprice_usd_per_ph_day"]),
            _money(r["revenue_usd"]),
            _money(r["energy_usd"] + r["hosting_usd"]),
            _money(r["service_usd"] + r["fixed_usd"]),
            f"[{colour}]{_money(r['margin_usd'])}[/{colour}]",
        )
    out = console()
    out.print(table)
    verdict = "[red]LOSING[/red]" if report.status == "losing" else "[green]profitable[/green]"
    out.print(
        f"{verdict}: margin {_money(report.total_margin_usd)} USD over {report.days_counted} "
        f"days; {report.days_losing} losing days"
        + (f", {report.curtailed_days} curtailed" if curtail else "")
        + ". Revenue is after the pool fee."
    )


MACHINE_PRICE_OPTION = typer.Option(
    None, "--machine-price-usd", help="Price of one machine (capex = price × count)."
)
CAPEX_OPTION = typer.Option(None, "--capex-usd", help="Total capital to pay back.")
BASIS_OPTION = typer.Option(
    PaybackBasis.PROJECTION,
    "--on",
    help="projection (difficulty growth and halvings), history (the index from --start) "
    "or scenarios (the stochastic network model).",
)
HISTORY_START_OPTION = typer.Option(None, "--start", help="history: first day, YYYY-MM-DD.")
HORIZON_OPTION = typer.Option(DEFAULT_HORIZON_DAYS, "--horizon-days", help="Days to look ahead.")
DIFFICULTY_GROWTH_OPTION = typer.Option(
    None,
    "--difficulty-growth-per-month",
    help="projection: e.g. 0.03 (default: the calibrated trailing hashrate growth).",
)
PRICE_GROWTH_OPTION = typer.Option(
    0.0, "--btc-price-growth-per-year", help="projection: BTC price drift, e.g. 0.1."
)
POWER_GROWTH_OPTION = typer.Option(
    0.0, "--power-price-growth-per-year", help="projection: power price escalation."
)
PATHS_OPTION = typer.Option(2000, "--paths", help="scenarios: number of paths.")
SEED_OPTION = typer.Option(1, "--seed", help="scenarios: random seed.")
CURTAIL_OPTION = typer.Option(
    False, "--curtail", help="Switch off on days below the shutdown hashprice."
)


@app.command("payback")
def payback_command(
    machine: str | None = MACHINE_OPTION,
    hashrate_ths: float | None = HASHRATE_OPTION,
    power_w: float | None = POWER_W_OPTION,
    count: int = COUNT_OPTION,
    power: float = POWER_PRICE_OPTION,
    pool_fee: float = POOL_FEE_OPTION,
    hosting: float = HOSTING_OPTION,
    service: float = SERVICE_OPTION,
    fixed: float = FIXED_OPTION,
    uptime: float = UPTIME_OPTION,
    machine_price: float | None = MACHINE_PRICE_OPTION,
    capex: float | None = CAPEX_OPTION,
    basis: PaybackBasis = BASIS_OPTION,
    start: str | None = HISTORY_START_OPTION,
    horizon: int = HORIZON_OPTION,
    difficulty_growth: float | None = DIFFICULTY_GROWTH_OPTION,
    price_growth: float = PRICE_GROWTH_OPTION,
    power_growth: float = POWER_GROWTH_OPTION,
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    curtail: bool = CURTAIL_OPTION,
    asof: str | None = ASOF_OPTION,
    allow_subsidy_only: bool = ALLOW_SUBSIDY_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
) -> None:
    """Days until the fleet's margin pays back its capex."""
    fleet = build_fleet(machine, hashrate_ths, power_w, count)
    costs = build_costs(power, pool_fee, hosting, service, fixed, uptime)
    capex_usd = capex_from_options(machine_price, capex, fleet)
    if horizon <= 0:
        raise UsageError("bad_option", option="--horizon-days", problem="must be > 0")
    history, index, resolved = load_index(data_dir, commercial_only, asof, allow_subsidy_only)
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)
    if basis is PaybackBasis.HISTORY:
        outcome = payback_on_history(
            fleet,
            costs,
            capex_usd=capex_usd,
            index=index,
            start=start,
            horizon=horizon,
            curtail=curtail,
        )
    else:
        outcome = payback_on_models(
            basis,
            fleet,
            costs,
            capex_usd=capex_usd,
            history=history,
            asof=resolved.date,
            horizon=horizon,
            difficulty_growth=difficulty_growth,
            price_growth=price_growth,
            power_growth=power_growth,
            paths=paths,
            seed=seed,
            curtail=curtail,
        )
    record = {**_fleet_record(fleet), "capex_usd": capex_usd, "on": basis.value, **outcome.record}
    _show_payback(fleet, record, outcome, curtail=curtail, fmt=fmt)


def _show_payback(
    fleet: Fleet,
    record: dict[str, Any],
    outcome: PaybackOutcome,
    *,
    curtail: bool,
    fmt: OutputFormat,
) -> None:
    """Write the payback as the daily path (CSV), one object (JSON) or a table."""
    path = outcome.path
    notes = list(outcome.notes)
    if fmt is OutputFormat.CSV and path is not None:
        emit_records(
            [
                {"date": d.date().isoformat(), **{k: jsonable(v) for k, v in r.items()}}
                for d, r in path.iterrows()
            ],
            fmt,
        )
        return
    if fmt is not OutputFormat.TABLE:
        _emit_object(record, fmt)
        return
    pairs = [(label, _cell(record[key])) for key, label in PAYBACK_LABELS.items() if key in record]
    if record.get("paid_back") is False:
        pairs.insert(4, ("payback", "[red]not within the horizon[/red]"))
    title = (
        f"Payback of {fleet.describe()} ({fleet.hashrate_ths / 1000:,.3f} PH/s, "
        f"{fleet.efficiency_j_per_th:.2f} J/TH)"
    )
    if not curtail:
        notes.append("The fleet runs every day; --curtail switches it off below shutdown.")
    _print_pairs(title, pairs, notes)


PAYBACK_LABELS = {
    "capex_usd": "capex, USD",
    "on": "on",
    "asof": "as of",
    "horizon_days": "horizon, days",
    "payback_days": "payback, days",
    "paid_back_on": "paid back on",
    "margin_over_horizon_usd": "margin over the horizon, USD",
    "margin_negative_from": "daily margin negative from",
    "switched_off_from": "first day switched off",
    "start_hashprice_usd_per_ph_day": "hashprice on day 1, USD/PH/day",
    "halving_date": "halving",
    "difficulty_growth_per_month": "difficulty growth a month",
    "probability_paid_back": "probability paid back",
    "payback_days_p10": "payback days, 10th percentile",
    "payback_days_p50": "payback days, median",
    "payback_days_p90": "payback days, 90th percentile",
}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.2f}"
    return "—" if value is None else str(value)
