"""Terms and records of hashrate token series (see :mod:`hashmarket.ledger.tokens`): the
declared series, the day's rate from the index, the stored distribution record and a
holding, with the transfer codes of token movements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from hashmarket.errors import TokenError
from hashmarket.instruments import DailyAmounts, TokenTerms
from hashmarket.ledger.model import INT64_MAX, SCALE_MAX
from hashmarket.money import DECIMAL, Rounding, exact, round_minor

if TYPE_CHECKING:
    from hashmarket.index import Fixing

BTC = "BTC"
BTC_SCALE = 8
# Transfer codes (the ledger's user-defined category) of token movements.
CODE_BACKING = 1
CODE_MINT = 2
CODE_BURN = 3
CODE_TRANSFER = 4
CODE_DISTRIBUTION = 5


def refused(action: str, asset: str, code: str, reason: str) -> TokenError:
    return TokenError("token_refused", action=action, series=asset, result_code=code, reason=reason)


def _decimal(value: object, *, series: str, field: str) -> Decimal:
    """Decimal from Decimal, int or a decimal string; floats are refused (0.1 is not 1/10)."""
    if isinstance(value, bool | float):
        raise TokenError(
            "token_series_invalid",
            series=series,
            field=field,
            problem="must be a Decimal, an int or a decimal string, not a float or bool",
        )
    try:
        out = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation:
        out = None
    if out is None or not out.is_finite():
        raise TokenError(
            "token_series_invalid", series=series, field=field, problem=f"{value!r} is not a number"
        )
    return out


@dataclass(frozen=True, slots=True)
class TokenSeries(TokenTerms):
    """A series' terms, as the issuer declares them: the token's economic terms
    (:class:`~hashmarket.instruments.tokens.TokenTerms`, the fields of a ``hashrate_token``
    spec) and the series' accounts, backing, term and scale.

    ``rounding`` turns the day's net reward into the whole-sat pool: down, so the pool never
    pays out more than the fleet earned (the fraction left is recorded as dust).
    """

    asset: str
    issuer_account_id: int
    reserve_account_id: int
    treasury_account_id: int
    backing_hashrate_ths: Decimal
    term_start: dt.date
    term_end: dt.date
    scale: int = 0
    rounding: Rounding = Rounding.DOWN

    @property
    def units_per_token(self) -> int:
        return int(10**self.scale)

    @property
    def max_supply_units(self) -> int:
        """Units the declared backing can cover: floor(backing ÷ TH/s per token × 10**scale)."""
        units = DECIMAL.divide(self.backing_hashrate_ths * self.units_per_token, self.ths_per_token)
        return round_minor(units, Rounding.DOWN)

    def validated(self) -> TokenSeries:
        """The same terms with every number as a Decimal, or :class:`TokenError`."""
        name = self.asset
        fields: dict[str, Any] = {}
        for field in (
            "ths_per_token",
            "efficiency_w_per_th",
            "power_price_usd_per_kwh",
            "service_fee_usd_per_th_day",
            "backing_hashrate_ths",
        ):
            fields[field] = _decimal(getattr(self, field), series=name, field=field)
            must_be_positive = field in ("ths_per_token", "backing_hashrate_ths")
            if fields[field] < 0 or (must_be_positive and fields[field] == 0):
                problem = "must be positive" if must_be_positive else "must not be negative"
                raise TokenError("token_series_invalid", series=name, field=field, problem=problem)
        if type(self.scale) is not int or not 0 <= self.scale <= SCALE_MAX:
            raise TokenError(
                "token_series_invalid", series=name, field="scale", problem="must be 0 to 18"
            )
        if self.rounding != Rounding.DOWN:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="rounding",
                problem=f"{str(self.rounding)!r}: the pool is rounded down, never above what "
                "the fleet earned",
            )
        if self.term_end < self.term_start:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="term_end",
                problem=f"{self.term_end} is before term_start {self.term_start}",
            )
        out = TokenSeries(
            asset=self.asset,
            issuer_account_id=self.issuer_account_id,
            reserve_account_id=self.reserve_account_id,
            treasury_account_id=self.treasury_account_id,
            term_start=self.term_start,
            term_end=self.term_end,
            scale=self.scale,
            **fields,
        )
        if not 0 < out.max_supply_units <= INT64_MAX:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="backing_hashrate_ths",
                problem="backs less than one unit or more than 2**63 - 1 units",
            )
        return out


@dataclass(frozen=True, slots=True)
class DayRate:
    """What a day's distribution needs from the index: the FPPS hashprice in BTC per PH/s per
    day (the BTC fixing's value) and the BTC price in USD (the USD fixing's ``price_usd``
    input), with the SHA-256 of each fixing's inputs for the record."""

    day: dt.date
    hashprice_btc_per_ph_day: Decimal
    btc_price_usd: Decimal
    hashprice_fixing_sha256: str
    price_fixing_sha256: str

    @classmethod
    def from_fixings(cls, btc: Fixing, usd: Fixing) -> DayRate:
        def fail(problem: str) -> TokenError:
            return TokenError("token_fixing", day=btc.date, problem=problem)

        if btc.date != usd.date:
            raise fail(f"the BTC fixing is for {btc.date}, the USD fixing for {usd.date}")
        if (btc.currency, usd.currency) != ("btc", "usd"):
            raise fail("need one fixing in BTC and one in USD")
        if btc.method != "fpps" or usd.method != "fpps":
            raise fail("distributions use the fpps method")
        price = usd.inputs.get("price_usd")
        if price is None or isinstance(price, bool) or not price > 0:
            raise fail("the USD fixing has no BTC price")
        if btc.value <= 0:
            raise fail("the hashprice is not positive")
        return cls(
            day=btc.date,
            hashprice_btc_per_ph_day=btc.value,
            btc_price_usd=exact(price),
            hashprice_fixing_sha256=btc.inputs_sha256,
            price_fixing_sha256=usd.inputs_sha256,
        )


def daily_amounts(
    series: TokenSeries, rate: DayRate, *, supply_units: int, uptime: Decimal
) -> DailyAmounts:
    """The day's pool for the outstanding supply: the token's own payoff
    (:meth:`~hashmarket.instruments.tokens.TokenTerms.daily_amounts`) for the hashrate
    supply ÷ 10**scale × TH/s per token, on the day's fixings, rounded by the series'
    ``rounding`` (a floor, through :mod:`hashmarket.money`), so what a buyer prices is what
    the series pays."""
    hashrate_ths = DECIMAL.multiply(
        DECIMAL.divide(Decimal(supply_units), Decimal(series.units_per_token)),
        series.ths_per_token,
    )
    return series.daily_amounts(
        hashrate_ths=hashrate_ths,
        hashprice_btc_per_ph_day=rate.hashprice_btc_per_ph_day,
        price_usd=rate.btc_price_usd,
        uptime=uptime,
        rounding=series.rounding,
    )


@dataclass(frozen=True, slots=True)
class Distribution:
    """The record of one series-day, as stored (append-only) beside its payouts."""

    asset: str
    day: dt.date
    hashprice_btc_per_ph_day: Decimal
    btc_price_usd: Decimal
    hashprice_fixing_sha256: str
    price_fixing_sha256: str
    uptime: Decimal
    cut_ns: int
    supply_units: int
    holder_count: int
    gross_sats: Decimal
    cost_sats: Decimal
    pool_sats: int
    dust_sats: Decimal
    shortfall_sats: Decimal
    first_seq: int  # journal rows of the payouts: first_seq … last_seq (0, 0 if none)
    last_seq: int
    reserves_root: bytes
    reserves_total: int
    timestamp_ns: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Distribution:
        return cls(
            asset=row[0],
            day=dt.date.fromisoformat(row[1]),
            hashprice_btc_per_ph_day=Decimal(row[2]),
            btc_price_usd=Decimal(row[3]),
            hashprice_fixing_sha256=row[4],
            price_fixing_sha256=row[5],
            uptime=Decimal(row[6]),
            cut_ns=row[7],
            supply_units=row[8],
            holder_count=row[9],
            gross_sats=Decimal(row[10]),
            cost_sats=Decimal(row[11]),
            pool_sats=row[12],
            dust_sats=Decimal(row[13]),
            shortfall_sats=Decimal(row[14]),
            first_seq=row[15],
            last_seq=row[16],
            reserves_root=bytes(row[17]),
            reserves_total=row[18],
            timestamp_ns=row[19],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.asset,
            "day": self.day.isoformat(),
            "hashprice_btc_per_ph_day": str(self.hashprice_btc_per_ph_day),
            "btc_price_usd": str(self.btc_price_usd),
            "hashprice_fixing_sha256": self.hashprice_fixing_sha256,
            "price_fixing_sha256": self.price_fixing_sha256,
            "uptime": str(self.uptime),
            "cut_ns": self.cut_ns,
            "supply_units": self.supply_units,
            "holder_count": self.holder_count,
            "gross_sats": str(self.gross_sats),
            "cost_sats": str(self.cost_sats),
            "pool_sats": self.pool_sats,
            "dust_sats": str(self.dust_sats),
            "shortfall_sats": str(self.shortfall_sats),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "reserves_root": self.reserves_root.hex(),
            "reserves_total": self.reserves_total,
        }


@dataclass(frozen=True, slots=True)
class Holding:
    token_account_id: int
    payout_account_id: int
    balance_units: int
