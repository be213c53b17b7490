"""The root command. User errors become one line on stderr and a non-zero exit code.

Sub-commands are :class:`~hashmarket.cli.lazy.LazyCommand` s: a command imports its module,
and with it its layer, only when it runs (``tests/unit/test_cli_lazy.py`` checks that each
listed help line is the command's own)."""

from __future__ import annotations

import sys

import typer

from hashmarket import __version__
from hashmarket.cli.lazy import LazyCommand, lazy_group
from hashmarket.errors import HashmarketError

index_app = typer.Typer(
    cls=lazy_group(
        {
            "hashprice": LazyCommand(
                "hashmarket.cli.index:hashprice_command",
                "Daily hashprice: what one unit of hashrate earns per day (to the as-of date).",
            ),
            "gpu": LazyCommand(
                "hashmarket.cli.index_gpu:gpu_command",
                "GPU-hour index: one fixing per period, GPU model and term, from price quotes.",
            ),
            "lending-rate": LazyCommand(
                "hashmarket.cli.index_lending:app",
                "Crypto lending reference rate: daily fixings by currency and tenor (and imports).",
            ),
            "regional": LazyCommand(
                "hashmarket.cli.index_regional:regional_command",
                "Regional mining margin: hashprice less a region's power cost (default: the "
                "last 7 days).",
            ),
        }
    ),
    help="Indices: the hashprice index and the GPU-hour index.",
    no_args_is_help=True,
)

COMMANDS = {
    "dispatch": LazyCommand(
        "hashmarket.cli.dispatch:dispatch_command",
        'Hourly plan that maximises the site\'s margin, compared with "mine only" and "AI only".',
    ),
    "serve": LazyCommand(
        "hashmarket.cli.serve:serve_command",
        "Serve the HTTP API (OpenAPI at /docs) and the web dashboard.",
    ),
    "price": LazyCommand(
        "hashmarket.cli.pricing:price_command",
        "Value an instrument described by a JSON or YAML spec.",
    ),
    "risk": LazyCommand(
        "hashmarket.cli.risk:risk_command",
        "Portfolio VaR and expected shortfall (Monte Carlo and historical) and stress tests.",
    ),
    "hedge": LazyCommand(
        "hashmarket.cli.risk:hedge_command",
        "A miner's hedge plan: the cheapest hedge that covers cash costs with a probability.",
    ),
    "loan": LazyCommand(
        "hashmarket.cli.risk:loan_command",
        "A loan's LTV levels and its life over scenarios, or a leveraged BTC position's.",
    ),
    "cva": LazyCommand(
        "hashmarket.cli.counterparty:cva_command",
        "EE, PFE and CVA of OTC contracts with one counterparty, with and without margin.",
    ),
    "data": LazyCommand(
        "hashmarket.cli.data:app",
        "Network data: sources, licences, coverage, imports and node sync.",
    ),
    "index": LazyCommand(
        "hashmarket.cli.app:index_app",
        "Indices: the hashprice index and the GPU-hour index.",
    ),
    "ledger": LazyCommand(
        "hashmarket.cli.ledger:app",
        "The double-entry ledger: accounts, transfers, balances.",
    ),
    "tokens": LazyCommand(
        "hashmarket.cli.tokens:app",
        "Hashrate tokens: issue a series, mint, burn, transfer, pay daily, prove reserves.",
    ),
    "settle": LazyCommand(
        "hashmarket.cli.settle:app",
        "Settle forwards, swaps and options between two accounts from the published fixings.",
    ),
    "miner": LazyCommand(
        "hashmarket.cli.miner:app",
        "Fleet economics: breakeven, profit on the hashprice index, payback.",
    ),
    "delivery": LazyCommand(
        "hashmarket.cli.delivery:app",
        "Proof of delivery: Stratum share metering (hashpower), heartbeats and SLAs (GPU time).",
    ),
    "market": LazyCommand(
        "hashmarket.cli.market:app",
        "The exchange: orders, books, trades, bars, capacity and hashpower delivery.",
    ),
    "keys": LazyCommand("hashmarket.cli.serve:keys_app", "API keys for the HTTP service."),
    "curve": LazyCommand(
        "hashmarket.cli.pricing:curve_app", "Forward curves from the calibrated models."
    ),
    "cloud": LazyCommand(
        "hashmarket.cli.cloud:app",
        "Cloud hashrate: value a contract for its buyer, book its purchase, pay it daily.",
    ),
    "hosting": LazyCommand(
        "hashmarket.cli.hosting:app",
        "Hosting: daily statements, site and client economics, payments on the ledger.",
    ),
    "lease": LazyCommand(
        "hashmarket.cli.lease:app",
        "Machine leases: the instalment schedule, the lessor's expected loss, the booking.",
    ),
    "loan-currency": LazyCommand(
        "hashmarket.cli.lending:loan_currency_command",
        "Borrow BTC or USD against the same machines: the loan's life and the miner's net.",
    ),
    "loan-protect": LazyCommand(
        "hashmarket.cli.lending:loan_protect_command",
        "The lender's puts struck at the liquidation line: their cost and the loss they cut.",
    ),
    "convert": LazyCommand(
        "hashmarket.cli.convert:convert_command",
        "NPV, IRR, value of waiting and break-even AI price of converting a mining site to AI.",
    ),
    "fund": LazyCommand(
        "hashmarket.cli.fund:app",
        "A hashrate fund (ETP): daily NAV, creation and redemption by APs, tracking error.",
    ),
    "loan-book": LazyCommand(
        "hashmarket.cli.loan_book:loan_book_command",
        "Book a loan's life on the published fixings up to the as-of day on the ledger.",
    ),
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    name="hashmarket",
    help="Compute as a commodity: hashprice index, hashrate derivatives, tokens and settlement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hashmarket {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Hashmarket command line."""


def main() -> None:
    try:
        app()
    except HashmarketError as error:
        print(f"hashmarket: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
