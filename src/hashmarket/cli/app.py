"""The root command. User errors become one line on stderr and a non-zero exit code."""

from __future__ import annotations

import sys

import typer

from hashmarket import __version__
from hashmarket.cli import data, dispatch, index, index_gpu, ledger, miner, pricing, serve, tokens
from hashmarket.cli import risk as risk_cli
from hashmarket.cli import settle as settle_cli
from hashmarket.errors import HashmarketError

app = typer.Typer(
    name="hashmarket",
    help="Compute as a commodity: hashprice index, hashrate derivatives, tokens and settlement.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(index.app, name="index")
app.add_typer(ledger.app, name="ledger")
app.add_typer(tokens.app, name="tokens")
app.add_typer(settle_cli.app, name="settle")
app.add_typer(miner.app, name="miner")
index_gpu.register(index.app)
app.command("dispatch")(dispatch.dispatch_command)
app.command("serve")(serve.serve_command)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(pricing.curve_app, name="curve")
app.command("price")(pricing.price_command)
app.command("risk")(risk_cli.risk_command)
app.command("hedge")(risk_cli.hedge_command)
app.command("loan")(risk_cli.loan_command)


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
