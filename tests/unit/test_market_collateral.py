"""Compute contracts as collateral: values marked from the exchange and the GPU-hour index,
haircuts from the lending module; every figure below is computed by hand."""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from decimal import Decimal

import pytest

from hashmarket.errors import RiskError
from hashmarket.index.compute import GpuFixing
from hashmarket.instruments.loans import Collateral, CollateralKind
from hashmarket.ledger import Account, Asset, Ledger, Transfer
from hashmarket.market import Exchange, PlaceOrder, RegisterHashrate, Side, open_exchange_accounts
from hashmarket.market.collateral import (
    Mark,
    gpu_block_value,
    gpu_index_volatility,
    gpu_mark,
    hashpower_contract_value,
    hashpower_mark,
    with_haircut,
)
from hashmarket.market.gpu import GpuTrade
from hashmarket.risk.credit import HaircutPolicy

T0 = 1_800_000_000
NS = 10**9
PRICE = 86_400_000  # 1 sat per TH·s


def market(budget_sats: int = 1_000_000) -> Exchange:
    ledger = Ledger.open(f"sqlite:///{tempfile.mkdtemp()}/m.db", create=True)
    ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, name="btc-issuer")
    ledger.create_accounts([Account(a, "BTC") for a in (101, 102, 202)])
    ledger.transfer(Transfer(1_000, 1, 101, 5_000_000))
    ledger.transfer(Transfer(1_001, 1, 102, 5_000_000))
    exchange = Exchange.open(ledger, accounts=open_exchange_accounts(ledger))
    t = T0 * NS
    exchange.submit(RegisterHashrate(t, 202, 1_000))
    exchange.submit(PlaceOrder(t, 202, "HASHPOWER", Side.SELL, 100, PRICE))
    exchange.submit(
        PlaceOrder(
            t, 101, "HASHPOWER", Side.BUY, 100, PRICE, budget_sats=budget_sats, duration_s=3_600
        )
    )
    return exchange


def quote(exchange: Exchange) -> None:
    """A resting ask 10 % and a resting bid 5 % over the contract's price."""
    t = T0 * NS
    exchange.submit(PlaceOrder(t, 202, "HASHPOWER", Side.SELL, 100, 95_040_000))
    exchange.submit(
        PlaceOrder(
            t, 102, "HASHPOWER", Side.BUY, 100, 90_720_000, budget_sats=100_000, duration_s=3_600
        )
    )


def test_hashpower_contract_marked_at_the_mid() -> None:
    exchange = market()
    (contract,) = exchange.engine.contracts.values()
    # No quotes left after the fill: the last trade marks, and the contract is worth exactly
    # its unspent budget (bought at the market).
    last = hashpower_mark(exchange.engine)
    assert last == Mark(PRICE, "last trade")
    now = (T0 + 1_800) * NS
    assert hashpower_contract_value(contract, mark=last, now_ns=now).value_minor == 1_000_000
    quote(exchange)
    mid = hashpower_mark(exchange.engine)
    assert mid == Mark(92_880_000, "mid")  # (90,720,000 + 95,040,000) / 2
    value = hashpower_contract_value(contract, mark=mid, now_ns=now)
    # Half an hour left at 100 TH/s: 180,000 TH·s, costing 180,000 sats at the contract's
    # price and worth 180,000 × 1.075 = 193,500 at the mid: 1,000,000 − 180,000 + 193,500.
    assert value.value_minor == 1_013_500
    assert value.remaining == "180,000 TH·s over 1,800 s, 1,000,000 sats of budget"


def test_a_small_budget_limits_what_the_contract_still_buys() -> None:
    exchange = market(budget_sats=100_000)
    (contract,) = exchange.engine.contracts.values()
    quote(exchange)
    value = hashpower_contract_value(contract, mark=hashpower_mark(exchange.engine), now_ns=T0 * NS)
    # 3,600 s × 100 TH/s = 360,000 TH·s ordered, but 100,000 sats buy 100,000 of them.
    assert value.value_minor == 100_000 - 100_000 + 107_500
    # After the end nothing is left to deliver: the budget left comes back, no more.
    after = hashpower_contract_value(
        contract, mark=Mark(92_880_000, "mid"), now_ns=(T0 + 4_000) * NS
    )
    assert after.value_minor == 100_000


def test_haircut_and_lendable_amount_from_the_lending_module() -> None:
    value = with_haircut(
        hashpower_contract_value(
            market().engine.contracts[1], mark=Mark(92_880_000, "mid"), now_ns=(T0 + 1_800) * NS
        ),
        sigma_daily=0.02,
    )
    assert value.levels is not None
    # 99 % normal quantile 2.326348 × σ 0.02 × √30 days = 0.254839;
    # less 2 % liquidation cost: LTV 0.725161.
    initial_ltv = 1 - 2.3263478740408408 * 0.02 * math.sqrt(30) - 0.02
    assert value.levels.initial_ltv == pytest.approx(initial_ltv, rel=1e-12)
    assert value.lendable_minor == math.floor(1_013_500 * initial_ltv) == 734_951


def fixing(day: dt.date, usd: str, model: str = "H100", term: str = "reserved") -> GpuFixing:
    return GpuFixing(
        period_start=day,
        period_end=day,
        gpu_model=model,
        term=term,
        value=Decimal(usd),
        currency="usd",
        unit="GPU-hour",
        n_quotes=1,
        n_outliers=0,
        volume_gpu_hours=None,
        centre_usd_per_gpu_hour=float(usd),
        mad_usd_per_gpu_hour=0.0,
        methodology_version="test",
        inputs={},
        inputs_sha256="",
    )


def gpu_trade(gpus: int = 8) -> GpuTrade:
    return GpuTrade(
        trade_id=4,
        model="H100",
        ts_ns=T0 * NS,
        price=250,
        gpus=gpus,
        start_s=T0 + 3_600,
        end_s=T0 + 25 * 3_600,
        buy_order_id=1,
        sell_order_id=2,
        buy_account_id=301,
        sell_account_id=302,
        taker_side=Side.BUY,
        notional_cents=250 * gpus * 24,
        buy_fee_cents=0,
        sell_fee_cents=0,
    )


def test_gpu_block_marked_from_the_index_fixing() -> None:
    day = dt.date(2027, 1, 14)
    fixings = [
        fixing(day - dt.timedelta(days=1), "2.05"),
        fixing(day, "2.19"),
        fixing(day, "3.10", term="on-demand"),  # another term: not the exchange's blocks
        fixing(day + dt.timedelta(days=1), "9.99"),  # after the as-of date
    ]
    mark = gpu_mark("H100", fixings=fixings, asof=day)
    assert mark == Mark(219, "GPU-hour index 2027-01-14")
    # 5 h 10 min into a 24 h window starting an hour from T0: 18 whole hours not begun.
    now = T0 + 3_600 + 5 * 3_600 + 600
    assert gpu_block_value(gpu_trade(), mark=mark, now_s=now).value_minor == 8 * 18 * 219
    # The unused part a holder keeps after reselling 5 of the 8 GPUs.
    assert gpu_block_value(gpu_trade(), mark=mark, now_s=now, gpus=3).value_minor == 11_826
    with pytest.raises(RiskError, match="9 GPUs of a block of 8"):
        gpu_block_value(gpu_trade(), mark=mark, now_s=now, gpus=9)
    with pytest.raises(RiskError, match="no GPU-hour fixing and no exchange trade"):
        gpu_mark("B200", fixings=fixings)


def test_gpu_index_volatility_of_alternating_fixings() -> None:
    # Log changes of exactly ±1 % every day: any EWMA of their squares is 10⁻⁴, so σ = 1 %.
    start = dt.date(2026, 1, 1)
    fixings = [
        fixing(start + dt.timedelta(days=i), str(round(2 * math.exp(0.01 * (i % 2)), 12)))
        for i in range(60)
    ]
    vol = gpu_index_volatility(
        fixings, model="H100", asof=dt.date(2026, 3, 1), policy=HaircutPolicy()
    )
    assert vol.sigma_daily == pytest.approx(0.01, rel=1e-6)
    assert vol.observations == 59


def test_compute_contract_collateral_kind_is_marked_not_simulated() -> None:
    collateral = Collateral(CollateralKind.COMPUTE_CONTRACT, 1.0)
    assert collateral.unit == "contracts"
