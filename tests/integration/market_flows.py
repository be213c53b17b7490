"""Seeded random command flows over every product, for the exchange's ledger and crash tests.

Participants hold BTC accounts 1001-1006 (hashpower) and USD accounts 2001-2006 (GPU blocks,
futures). The flow mixes hashpower orders of every kind, deliveries on contracts that may
exist, GPU blocks of two models, futures orders and daily marks, cancels and replaces of
order ids that may or may not be open, and time passing. Some commands are refused (an order
id that is not open, an account short of money): that is part of the test.
"""

from __future__ import annotations

import datetime as dt
import random

from hashmarket.ledger import Account, Ledger, Transfer
from hashmarket.market import (
    AdvanceTime,
    CancelOrder,
    Command,
    MarketConfig,
    MarkFutures,
    OrderType,
    PlaceGpuOrder,
    PlaceOrder,
    RegisterGpus,
    RegisterHashrate,
    ReplaceOrder,
    ReportDelivery,
    Side,
    TimeInForce,
    monthly_futures,
)

BTC_ACCOUNTS = range(1001, 1007)
USD_ACCOUNTS = range(2001, 2007)
BTC_FUNDS, USD_FUNDS = 3_000_000, 2_000_000
CONFIG = MarketConfig(futures=monthly_futures(dt.date(2027, 2, 1), 2))
FUTURE = CONFIG.futures[0].symbol
S = 10**9
T0 = 1_800_000_000 * S  # 2027-01-15 08:00 UTC, on a whole hour
HOUR0 = T0 // S + 3_600


def fund(ledger: Ledger) -> None:
    """Open and fund the participants (issuers 1 = BTC and 2 = USD, as tests.conftest)."""
    ledger.create_accounts(
        [Account(a, "BTC") for a in BTC_ACCOUNTS] + [Account(a, "USD") for a in USD_ACCOUNTS]
    )
    ledger.create_transfers(
        [Transfer(9_000 + a, 1, a, BTC_FUNDS) for a in BTC_ACCOUNTS]
        + [Transfer(9_000 + a, 2, a, USD_FUNDS) for a in USD_ACCOUNTS]
    )


def setup_commands() -> list[Command]:
    out: list[Command] = [RegisterHashrate(T0, a, 5_000) for a in BTC_ACCOUNTS]
    for a in USD_ACCOUNTS:
        for model in ("H100", "B200"):
            out.append(RegisterGpus(T0, a, model, 16, HOUR0, HOUR0 + 72 * 3_600))
    return out


def random_flow(seed: int, n: int) -> list[Command]:
    rng = random.Random(seed)
    ts = T0
    out = setup_commands()
    for _ in range(n):
        ts += rng.randint(1, 120) * S
        roll = rng.random()
        if roll < 0.35:
            out.append(_hashpower(rng, ts))
        elif roll < 0.45:
            out.append(ReportDelivery(ts, rng.randint(1, 40), rng.randint(1, 4_000) * 3_600))
        elif roll < 0.60:
            out.append(_gpu(rng, ts))
        elif roll < 0.75:
            side = rng.choice((Side.BUY, Side.SELL))
            price = rng.randint(190, 210) * 25
            out.append(
                PlaceOrder(ts, rng.choice(USD_ACCOUNTS), FUTURE, side, rng.randint(1, 4), price)
            )
        elif roll < 0.85:
            out.append(CancelOrder(ts, _owner(rng), rng.randint(1, 200)))
        elif roll < 0.92:
            price = rng.randint(440, 460) * 10
            out.append(
                ReplaceOrder(ts, _owner(rng), rng.randint(1, 200), price, rng.randint(1, 5) * 100)
            )
        elif roll < 0.96:
            out.append(MarkFutures(ts, FUTURE, rng.randint(180, 220) * 25))
        else:
            out.append(AdvanceTime(ts + rng.randint(0, 3_600) * S))
            ts = out[-1].ts_ns
    return out


def _owner(rng: random.Random) -> int:
    return rng.choice((*BTC_ACCOUNTS, *USD_ACCOUNTS))


def _hashpower(rng: random.Random, ts: int) -> PlaceOrder:
    account = rng.choice(BTC_ACCOUNTS)
    size = rng.randint(1, 6) * 100
    price = rng.randint(440, 460) * 10
    tif = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.POST_ONLY))
    if rng.random() < 0.5:
        return PlaceOrder(ts, account, "HASHPOWER", Side.SELL, size, price, tif=tif)
    budget = rng.randint(size, 400_000)
    duration = rng.choice((3_600, 7_200, 86_400))
    if rng.random() < 0.1:
        return PlaceOrder(
            ts,
            account,
            "HASHPOWER",
            Side.BUY,
            size,
            None,
            OrderType.MARKET,
            TimeInForce.IOC,
            budget,
            duration,
        )
    return PlaceOrder(
        ts,
        account,
        "HASHPOWER",
        Side.BUY,
        size,
        price,
        tif=tif,
        budget_sats=budget,
        duration_s=duration,
    )


def _gpu(rng: random.Random, ts: int) -> PlaceGpuOrder:
    first_open = -(-ts // (3_600 * S)) * 3_600
    start = max(first_open, HOUR0) + rng.randint(0, 24) * 3_600
    end = start + rng.randint(1, 12) * 3_600
    side = rng.choice((Side.BUY, Side.SELL))
    tif = TimeInForce.FOK if rng.random() < 0.2 else TimeInForce.GTC
    return PlaceGpuOrder(
        ts,
        rng.choice(USD_ACCOUNTS),
        side,
        rng.choice(("H100", "B200")),
        rng.randint(1, 8),
        start,
        end,
        rng.randint(180, 260),
        tif,
    )
