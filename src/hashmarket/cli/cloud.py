"""``hashmarket cloud …``: cloud hashrate contracts — value one for its buyer over scenarios,
book its purchase, pay its daily output on the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hashmarket.cli.common import (
    ASOF_OPTION,
    COMMERCIAL_ONLY_OPTION,
    DATA_DIR_OPTION,
    FORMAT_OPTION,
    SEED_OPTION,
    OutputFormat,
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

if TYPE_CHECKING:
    from hashmarket.ledger import Ledger
    from hashmarket.ledger.mining import CloudAccounts

app = typer.Typer(
    help="Cloud hashrate: value a contract for its buyer, book its purchase, pay it daily.",
    no_args_is_help=True,
)

SPEC_ARGUMENT = typer.Argument(..., metavar="SPEC", help="A cloud_hashrate spec, JSON or YAML.")
CONTRACT_OPTION = typer.Option(..., "--contract-id", help=ID_OPTION_HELP)
PROVIDER_BTC = typer.Option(..., "--provider-btc", help="Provider's BTC account (id or name).")
BUYER_BTC = typer.Option(..., "--buyer-btc", help="Buyer's BTC account: receives the output.")
BUYER_PAY = typer.Option(
    ..., "--buyer-pay", help="Buyer's account in the price's currency (USD or BTC)."
)
PROVIDER_PAY = typer.Option(
    ..., "--provider-pay", help="Provider's account in the price's currency: paid up front."
)


def _accounts(
    ledger: Ledger, provider_btc: str, buyer_btc: str, buyer_pay: str, provider_pay: str
) -> CloudAccounts:
    from hashmarket.ledger.mining import CloudAccounts

    return CloudAccounts(
        provider_btc=account_id(ledger, provider_btc),
        buyer_btc=account_id(ledger, buyer_btc),
        buyer_payment=account_id(ledger, buyer_pay),
        provider_payment=account_id(ledger, provider_pay),
    )


@app.command("value")
def value_command(
    spec: Path = SPEC_ARGUMENT,
    paths: int = PATHS_OPTION,
    seed: int = SEED_OPTION,
    asof: str | None = ASOF_OPTION,
    measure: str = MEASURE_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """The buyer's expected PV of the daily outputs (the fair up-front price) against the
    price, the break-even hashprice and the chance and day of a shut-off."""
    from hashmarket.instruments import CloudHashrate
    from hashmarket.pricing import cloud_valuation

    contract = read_contract(spec, CloudHashrate)
    market, model, config, resolved = scenario_inputs(
        contract,
        asof=asof,
        paths=paths,
        seed=seed,
        measure=measure,
        data_dir=data_dir,
        commercial_only=commercial_only,
    )
    result = cloud_valuation(contract, market=market, model=model, config=config)
    emit(result.to_dict(), fmt, f"cloud hashrate {spec.name} (for the buyer)")
    print_asof(resolved, machine=fmt is not OutputFormat.TABLE)


@app.command("buy")
def buy_command(
    spec: Path = SPEC_ARGUMENT,
    contract_id: str = CONTRACT_OPTION,
    provider_btc: str = PROVIDER_BTC,
    buyer_btc: str = BUYER_BTC,
    buyer_pay: str = BUYER_PAY,
    provider_pay: str = PROVIDER_PAY,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Book the purchase: the buyer pays the up-front price to the provider (once)."""
    from hashmarket.instruments import CloudHashrate
    from hashmarket.ledger.mining import purchase_cloud

    contract = read_contract(spec, CloudHashrate)
    with opened(db, data_dir) as ledger:
        accounts = _accounts(ledger, provider_btc, buyer_btc, buyer_pay, provider_pay)
        amount = purchase_cloud(ledger, contract_id, contract, accounts)
    unit = "sats" if contract.price_sats is not None else "cents"
    record = {"contract_id": contract_id, "price_minor": amount, "unit": unit}
    emit(record, fmt, "", line=f"ok: {contract_id} bought for {amount:,} {unit}")


@app.command("pay")
def pay_command(
    spec: Path = SPEC_ARGUMENT,
    contract_id: str = CONTRACT_OPTION,
    provider_btc: str = PROVIDER_BTC,
    buyer_btc: str = BUYER_BTC,
    buyer_pay: str = BUYER_PAY,
    provider_pay: str = PROVIDER_PAY,
    through: str | None = THROUGH_OPTION,
    db: str | None = DB_OPTION,
    data_dir: Path | None = DATA_DIR_OPTION,
    commercial_only: bool = COMMERCIAL_ONLY_OPTION,
    fmt: OutputFormat = FORMAT_OPTION,
) -> None:
    """Pay each day's net output, from the published fixings, for every day through
    ``--through`` not yet paid; a shut-off is recorded and stops the payments."""
    from hashmarket.instruments import CloudHashrate
    from hashmarket.ledger.mining import pay_cloud

    contract = read_contract(spec, CloudHashrate)
    published, last = published_through(
        contract.start, through, data_dir=data_dir, commercial_only=commercial_only
    )
    with opened(db, data_dir) as ledger:
        accounts = _accounts(ledger, provider_btc, buyer_btc, buyer_pay, provider_pay)
        run = pay_cloud(ledger, contract_id, contract, accounts, published, through=last)
    shutoff = "" if run.shutoff_day is None else f"; shut off on {run.shutoff_day}"
    line = (
        f"ok: {contract_id}: {len(run.days)} day(s) through {last}, {run.paid_sats:,} sats "
        f"paid in all, {run.new_transfers} new payout(s){shutoff}"
    )
    emit(run.to_dict(), fmt, "", line=line)
