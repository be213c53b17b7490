"""``hashmarket hosting …``: hosting (co-mining) agreements — daily statements and the site's
and client's economics on the published fixings, the same over scenarios, and the daily
payments on the ledger."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from hashmarket.cli.common import (
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    SEED_OPTION,
    OutputFormat,
    console,
    emit_json,
    print_asof,
)
from hashmarket.cli.ledger import account_id
from hashmarket.cli.ledger_options import DB_OPTION, opened
from hashmarket.cli.mining_common import (
    ID_OPTION_HELP,
    MEASURE_OPTION,
    PATHS_OPTION,
    THROUGH_OPTION,
    emit,
    published_through,
    read_contract,
    scenario_inputs,
)
from hashmarket.errors import UsageError

app = typer.Typer(
    help="Hosting: daily statements, site and client economics, payments on the ledger.",
    no_args_is_help=True,
)

SPEC_ARGUMENT = typer.Argument(..., metavar="SPEC", help="A hosting spec, JSON or YAML.")
SITE_COST_OPTION = typer.Option(
    None,
    "--site-cost-usd-per-kwh",
    help="What the power costs the site itself, USD/kWh (for the site's economics).",
)


def _site_cost(value: str | None) -> Decimal | None:
    if value is None:
        return None
    from hashmarket.money import exact

    try:
        cost = exact(value)
    except ValueError:
        raise UsageError(
            "bad_option", option="--site-cost-usd-per-kwh", problem=f"{value!r} is not a number"
        ) from None
    if cost < 0:
        raise UsageError("bad_option", option="--site-cost-usd-per-kwh", problem="is negative")
    return cost


@app.command("statement")
def statement_command(
    spec: Path = SPEC_ARGUMENT,
    through: str | None = THROUGH_OPTION,
    site_cost: str | None = SITE_COST_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Each day's statement from the published fixings (TH/s, kWh, BTC mined, the site's
    share, the power charge, the client's net) and the period's economics."""
    from hashmarket.instruments import Hosting
    from hashmarket.operations import hosting_period

    hosting = read_contract(spec, Hosting)
    published, last = published_through(
        hosting.start, through, data_dir=data_dir, commercial_only=commercial_only
    )
    end = min(last, hosting.end)
    cost = _site_cost(site_cost)
    rows = []
    if published is not None and end >= hosting.start:
        days = published.between(hosting.start, end)
        rows = hosting.statements(days, site_power_cost_usd_per_kwh=cost)
    period = hosting_period(hosting, rows)
    if fmt is not OutputFormat.TABLE:
        emit_json({"period": period.to_dict(), "statements": [r.to_dict() for r in rows]})
        return
    table = Table(title=f"hosting {spec.name}: daily statements", title_justify="left")
    for column in (
        "day",
        "TH/s",
        "kWh",
        "mined sats",
        "site sats",
        "client sats",
        "power $",
        "client net $",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(
            r.day.isoformat(),
            f"{r.hashrate_ths.normalize():,f}",
            f"{r.kwh.normalize():,f}",
            f"{r.mined_sats:,}",
            f"{r.site_share_sats:,}",
            f"{r.client_sats:,}",
            f"{r.power_cents / 100:,.2f}",
            f"{r.client_net_usd:,.2f}",
        )
    console().print(table)
    emit(period.to_dict(), fmt, "the period")


@app.command("scenarios")
def scenarios_command(
    spec: Path = SPEC_ARGUMENT,
    site_cost: str | None = SITE_COST_OPTION,
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    asof: str | None = ASOF_OPTION,
    measure: str = typer.Option("model", "--measure", help=MEASURE_OPTION.help),
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The client's net and the site's margin over the agreement's remaining days, over
    scenario paths: mean, quantiles, the chance the client loses money."""
    from hashmarket.instruments import Hosting
    from hashmarket.operations import client_breakeven_hashprice_usd_per_ph_day as breakeven
    from hashmarket.operations import hosting_scenarios
    from hashmarket.pricing import scenario_paths

    hosting = read_contract(spec, Hosting)
    cost = _site_cost(site_cost)
    market, model, config, resolved = scenario_inputs(
        hosting,
        asof=asof,
        paths=paths,
        seed=seed,
        measure=measure,
        data_dir=data_dir,
        commercial_only=commercial_only,
    )
    drawn = scenario_paths(hosting, market=market, model=model, config=config)
    result = hosting_scenarios(
        hosting,
        drawn.fixings.between(max(hosting.start, market.asof), hosting.end),
        site_power_cost_usd_per_kwh=None if cost is None else float(cost),
    )
    record = {
        "asof": market.asof.isoformat(),
        "client_pv_usd": drawn.value,
        "client_breakeven_hashprice_usd_per_ph_day": breakeven(hosting),
        **result.to_dict(),
    }
    emit(record, fmt, f"hosting {spec.name} over {result.n_paths:,} paths")
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)


@app.command("pay")
def pay_command(
    spec: Path = SPEC_ARGUMENT,
    agreement_id: str = typer.Option(..., "--agreement-id", help=ID_OPTION_HELP),
    site_btc: str = typer.Option(..., "--site-btc", help="Site's BTC account (id or name)."),
    client_btc: str = typer.Option(..., "--client-btc", help="Client's BTC account."),
    client_usd: str = typer.Option(..., "--client-usd", help="Client's USD account."),
    site_usd: str = typer.Option(..., "--site-usd", help="Site's USD account."),
    through: str | None = THROUGH_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pay every statement through ``--through`` not yet paid: the client's sats from the
    site, the power bill from the client."""
    from hashmarket.instruments import Hosting
    from hashmarket.ledger.mining import HostingAccounts, settle_hosting

    hosting = read_contract(spec, Hosting)
    published, last = published_through(
        hosting.start, through, data_dir=data_dir, commercial_only=commercial_only
    )
    with opened(db, data_dir) as ledger:
        accounts = HostingAccounts(
            site_btc=account_id(ledger, site_btc),
            client_btc=account_id(ledger, client_btc),
            client_usd=account_id(ledger, client_usd),
            site_usd=account_id(ledger, site_usd),
        )
        run = settle_hosting(ledger, agreement_id, hosting, accounts, published, through=last)
    line = (
        f"ok: {agreement_id}: {len(run.statements)} day(s) through {last}: "
        f"{run.client_sats:,} sats to the client, {run.power_cents / 100:,.2f} USD of power "
        f"to the site; {run.new_transfers} new transfer(s)"
    )
    emit(run.to_dict(), fmt, "", line=line)
