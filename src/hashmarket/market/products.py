"""The products an exchange lists and their terms: ticks, lots, fees, margins, the catalogue.

All figures are integers. Fees are in parts per million of a fill's notional (rounded up, in
the exchange's favour, so a fee is never a fraction of a unit) for hashpower and GPU blocks,
and in cents per contract for futures. There are no rebates: a fee is never negative.

* **Hashpower spot** (``HASHPOWER``): price in sats per PH/s per day on a tick of
  :attr:`HashpowerSpec.tick_sats`, size in whole TH/s, at least :attr:`HashpowerSpec.min_lot_ths`.
  Money moves on delivery: ``price × TH/s·s ÷ 86,400,000`` sats (a PH is 1,000 TH, a day
  86,400 s), rounded down on the contract's running total.
* **GPU blocks**: price in USD cents per GPU-hour (tick 1 cent), N GPUs of a catalogue model
  over an hour-aligned window; notional = price × GPUs × hours.
* **Hashprice futures** (``HPF-YYYY-MM``): price in USD cents per PH/s per day on a tick of
  25 cents; one contract is 1 PH/s for 30 days (like Bitnomial's HUP), so one cent of price
  is 30 cents per contract.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hashmarket import units
from hashmarket.money import Rounding, divide_minor

HASHPOWER = "HASHPOWER"
# Unit factors under the names the market's modules use; their values live in units.py.
TH_PER_PH = units.TH_PER_PH
S_PER_DAY = units.SECONDS_PER_DAY
S_PER_HOUR = units.SECONDS_PER_HOUR
NS_PER_S = units.NS_PER_S
PPM = 1_000_000
# The GPU models the exchange lists: the canonical spellings of the GPU-hour index
# (hashmarket.index.gpu_quotes.canonical_model), so GPU trades can be used as its quotes.
GPU_CATALOGUE = ("A100", "B200", "H100", "H200", "L40S", "MI300X")


def fee(notional: int, rate_ppm: int) -> int:
    """``notional × rate`` rounded up to a whole unit (ceil of a non-negative quotient)."""
    return divide_minor(notional * rate_ppm, PPM, Rounding.UP)


@dataclass(frozen=True, slots=True)
class HashpowerSpec:
    """Terms of the hashpower spot market."""

    tick_sats: int = 10
    min_lot_ths: int = 100
    maker_fee_ppm: int = 1_000
    taker_fee_ppm: int = 2_000
    min_duration_s: int = 3_600
    max_duration_s: int = 90 * S_PER_DAY
    asset: str = "BTC"


@dataclass(frozen=True, slots=True)
class GpuSpec:
    """Terms of the GPU block market."""

    models: tuple[str, ...] = GPU_CATALOGUE
    tick_cents: int = 1
    max_gpus: int = 100_000
    max_hours: int = 24 * 366
    maker_fee_ppm: int = 1_000
    taker_fee_ppm: int = 2_000
    asset: str = "USD"


@dataclass(frozen=True, slots=True)
class FutureSpec:
    """One listed monthly hashprice future (settles to the month's average fixing)."""

    month: dt.date  # the first day of the contract month
    last_trading_day: dt.date
    tick_cents: int = 25
    contract_days: int = 30  # contract size: 1 PH/s for this many days
    initial_margin_cents: int = 50_000  # per contract
    maintenance_margin_cents: int = 40_000
    maker_fee_cents: int = 50  # per contract
    taker_fee_cents: int = 100
    asset: str = "USD"

    @property
    def symbol(self) -> str:
        return future_symbol(self.month)


def future_symbol(month: dt.date) -> str:
    return f"HPF-{month.year:04d}-{month.month:02d}"


def monthly_futures(first: dt.date, count: int) -> tuple[FutureSpec, ...]:
    """``count`` consecutive monthly contracts from ``first``'s month with the default terms;
    the last trading day is the contract month's last day."""
    out = []
    year, month = first.year, first.month
    for _ in range(count):
        start = dt.date(year, month, 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        last = dt.date(year, month, 1) - dt.timedelta(days=1)
        out.append(FutureSpec(month=start, last_trading_day=last))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Accounts:
    """The exchange's own ledger accounts, per asset: buyers' reservations are posted to
    ``clearing`` and paid out from it at once (it holds only what is in flight within one
    command); fees go to ``fees``; futures margin sits in ``margin``."""

    clearing: dict[str, int] = field(default_factory=dict)
    fees: dict[str, int] = field(default_factory=dict)
    margin: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """Everything that fixes the engine's behaviour. Its canonical form is the command log's
    genesis, so a log replays only against the configuration it was written with."""

    hashpower: HashpowerSpec = HashpowerSpec()
    gpu: GpuSpec = GpuSpec()
    futures: tuple[FutureSpec, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "hashpower": {k: getattr(self.hashpower, k) for k in HashpowerSpec.__slots__},
            "gpu": {k: getattr(self.gpu, k) for k in GpuSpec.__slots__},
            "futures": [
                {
                    k: (v.isoformat() if isinstance(v, dt.date) else v)
                    for k in FutureSpec.__slots__
                    for v in [getattr(f, k)]
                }
                for f in self.futures
            ],
        }
