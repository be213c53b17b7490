"""USD stablecoins as ledger assets: USDT and USDC, 6 decimals each, with their issuer accounts.

A contract whose payoff is in USD may settle in a stablecoin instead of USD cents: the USD
amount is paid **at par**, 1 USDT = 1 USDC = 1 USD, in micro-units (10⁶ per coin), so a day
that pays 7.23 USD pays 7,230,000 units of USDC — the cents × 10⁴ exactly. A de-peg is not
modelled: the coin is taken at its face value on every day, as the issuers redeem it; a party
that wants the market rate should settle in USD. The initial margin rate of a stablecoin
contract is USD's.

The assets are created like BTC and USD (``ledger init``): an issuer account per asset whose
balance is minus the supply. They are not created by default, so ledgers without them keep
the state they had; ``hashmarket ledger init --stablecoins`` adds them, on a new ledger or an
existing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hashmarket.ledger.model import Asset
from hashmarket.ledger.results import CreateAssetResult
from hashmarket.ledger.writer import LedgerWriter


@dataclass(frozen=True, slots=True)
class Stablecoin:
    """A coin redeemable at par for ``currency``: its ledger code, scale, issuer account's
    default id and name."""

    code: str
    scale: int
    currency: str
    issuer_account_id: int
    issuer_name: str

    @property
    def asset(self) -> Asset:
        return Asset(self.code, self.scale)


STABLECOINS: Mapping[str, Stablecoin] = {
    "USDT": Stablecoin("USDT", 6, "USD", 3, "usdt-issuer"),
    "USDC": Stablecoin("USDC", 6, "USD", 4, "usdc-issuer"),
}


def par_currency(asset: str) -> str:
    """The currency an asset pays at par: ``USD`` for a USD stablecoin, the asset itself for
    anything else (USD for USD, BTC for BTC)."""
    coin = STABLECOINS.get(asset.upper())
    return coin.currency if coin is not None else asset.upper()


def create_stablecoins(
    writer: LedgerWriter, issuer_ids: Mapping[str, int] | None = None
) -> list[tuple[Stablecoin, CreateAssetResult]]:
    """Create every stablecoin with its issuer account (``issuer_ids`` by code overrides the
    defaults); an asset that exists with the same scale and issuer is left as it is."""
    ids = dict(issuer_ids or {})
    out = []
    for coin in STABLECOINS.values():
        issuer = ids.get(coin.code, coin.issuer_account_id)
        result = writer.create_asset(coin.asset, issuer_account_id=issuer, name=coin.issuer_name)
        out.append((coin, result))
    return out
