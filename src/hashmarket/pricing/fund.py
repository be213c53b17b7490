"""The hashrate fund's numbers, as pure functions: a token's mark, the day's NAV strike, the
creation and redemption baskets, the premium or discount of a secondary price, and the
tracking error against the hashprice index. See ``docs/fund.md`` for the method.

Everything booked is an integer (token units, sats, shares), computed in integer or exact
rational arithmetic; the mark's discount factors are :data:`hashmarket.money.DECIMAL`
figures, so a mark is reproducible from the day's two fixings alone.

**Mark.** A token is marked at the present value of its remaining payouts, each expected to
be the payout at day D's published fixings (the index held flat: D's fixing is the best
estimate of each later day's that the fixings alone give), discounted continuously at the
fund's ``mark_discount_rate``::

    pool_D   = the token's own daily payout on D's fixings, whole sats (uptime 1)
    n        = days after D to the end of the series' term
    annuity  = Σ_{k=1..n} exp(−r k / 365)  (= n when r = 0)
    mark_D   = round_half_even(pool_D × annuity)   sats per token

**Strike of day D** (holdings at D's cut, 00:00 UTC of D + 1)::

    token_value = floor(token_units × mark_D / 10**scale)
    gross       = token_value + btc_sats
    fee_accrued = floor(gross × management_fee_rate / 365)
    fee         = min(fee_accrued, btc_sats)           paid to the manager, in sats
    distribution= min(income, btc_sats − fee)          if the fund distributes, else 0
    net         = gross − fee − distribution
    NAV/share   = net / shares                         (exact; shown to 4 decimals)

**Baskets** for k creation units of N shares (S shares outstanding, T token units held)::

    tokens = floor(T × kN / S)
    cash   = ceil (net × kN / S − tokens × mark / 10**scale)   creation (the AP pays)
    cash   = floor(net × kN / S − tokens × mark / 10**scale)   redemption (the fund pays)

Rounding always favours the shareholders who stay: a creator never pays less than the exact
NAV, a redeemer never receives more. With no share outstanding the basket is the terms' seed
basket (``seed_tokens_per_unit`` tokens and ``seed_sats_per_unit`` sats per unit).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hashmarket.chain.sources import Column, Schema, read_rows
from hashmarket.errors import FundError, UsageError
from hashmarket.instruments import FundIncome, FundTerms, TokenTerms
from hashmarket.money import DECIMAL, Rounding, divide_minor, exact_decimal, round_minor
from hashmarket.units import DAYS_PER_YEAR_ACT365

# The fee accrues on a 365-day year, every calendar day.
FEE_DAYS_PER_YEAR = 365
TRACKING_WINDOW_DAYS = 30
SECONDARY_PRICES = Schema(
    columns=(
        Column("date", "date", blank_ok=False),
        Column("price_sats_per_share", "float", blank_ok=False, positive=True),
    ),
    key="date",
)


@dataclass(frozen=True, slots=True)
class TokenMark:
    """One token's mark on day D, in sats, and how it was reached."""

    day: dt.date
    pool_sats_per_token: int
    remaining_days: int
    annuity_days: Decimal
    mark_sats_per_token: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "pool_sats_per_token": self.pool_sats_per_token,
            "remaining_days": self.remaining_days,
            "annuity_days": f"{self.annuity_days:.6f}",
            "mark_sats_per_token": self.mark_sats_per_token,
        }


def annuity_days(remaining_days: int, rate_per_year: Decimal) -> Decimal:
    """Σ_{k=1..n} exp(−r k / 365): the present value of 1 sat a day for n days."""
    if remaining_days <= 0:
        return Decimal(0)
    if rate_per_year == 0:
        return Decimal(remaining_days)
    q = DECIMAL.exp(DECIMAL.divide(-rate_per_year, Decimal(FEE_DAYS_PER_YEAR)))
    geometric = DECIMAL.subtract(Decimal(1), DECIMAL.power(q, remaining_days))
    return DECIMAL.divide(DECIMAL.multiply(q, geometric), DECIMAL.subtract(Decimal(1), q))


def token_mark(
    terms: TokenTerms,
    *,
    day: dt.date,
    term_end: dt.date,
    hashprice_btc_per_ph_day: Decimal,
    price_usd: Decimal,
    discount_rate: Decimal,
) -> TokenMark:
    """The mark of one token of ``terms`` on ``day`` (see the module doc)."""
    pool = terms.daily_amounts(
        hashrate_ths=terms.ths_per_token,
        hashprice_btc_per_ph_day=hashprice_btc_per_ph_day,
        price_usd=price_usd,
        uptime=Decimal(1),
    ).pool_sats
    remaining = max((term_end - day).days, 0)
    annuity = annuity_days(remaining, discount_rate)
    mark = round_minor(DECIMAL.multiply(Decimal(pool), annuity), Rounding.HALF_EVEN)
    return TokenMark(day, pool, remaining, annuity, mark)


@dataclass(frozen=True, slots=True)
class FundHoldings:
    """The fund at a day's cut: token units and sats held, shares outstanding, and the sats
    its tokens paid in since the previous cut (the day's income)."""

    token_units: int
    btc_sats: int
    shares: int
    income_sats: int


@dataclass(frozen=True, slots=True)
class NavStrike:
    """Day D's NAV and what the day books (the fee and any distribution)."""

    day: dt.date
    mark: TokenMark
    holdings: FundHoldings
    token_scale: int
    token_value_sats: int
    gross_sats: int
    fee_accrued_sats: int
    fee_sats: int
    distribution_sats: int
    net_sats: int
    nav_sats_per_share: Fraction

    @property
    def shares(self) -> int:
        return self.holdings.shares

    @property
    def distribution_per_share_sats(self) -> Fraction:
        return Fraction(self.distribution_sats, self.shares) if self.shares else Fraction(0)

    def to_dict(self) -> dict[str, Any]:
        h = self.holdings
        return {
            "day": self.day.isoformat(),
            "mark": self.mark.to_dict(),
            "token_units": h.token_units,
            "btc_sats": h.btc_sats,
            "income_sats": h.income_sats,
            "shares": h.shares,
            "token_value_sats": self.token_value_sats,
            "gross_sats": self.gross_sats,
            "fee_accrued_sats": self.fee_accrued_sats,
            "fee_sats": self.fee_sats,
            "fee_waived_sats": self.fee_accrued_sats - self.fee_sats,
            "distribution_sats": self.distribution_sats,
            "net_sats": self.net_sats,
            "nav_sats_per_share": f"{exact_decimal(self.nav_sats_per_share):.4f}",
        }


def strike_nav(
    terms: FundTerms, mark: TokenMark, holdings: FundHoldings, *, token_scale: int
) -> NavStrike:
    """Day ``mark.day``'s strike on ``holdings`` (see the module doc)."""
    h = holdings
    token_value = h.token_units * mark.mark_sats_per_token // 10**token_scale
    gross = token_value + h.btc_sats
    rate = Fraction(terms.management_fee_rate)
    fee_accrued = divide_minor(
        gross * rate.numerator, FEE_DAYS_PER_YEAR * rate.denominator, Rounding.DOWN
    )
    fee = min(fee_accrued, h.btc_sats)
    distribution = 0
    if terms.income is FundIncome.DISTRIBUTE and h.shares:
        distribution = max(min(h.income_sats, h.btc_sats - fee), 0)
    net = gross - fee - distribution
    if h.shares:
        nav = Fraction(net, h.shares)
    else:
        seed = Fraction(terms.seed_tokens_per_unit * mark.mark_sats_per_token, 10**token_scale)
        nav = (seed + terms.seed_sats_per_unit) / terms.creation_unit_shares
    return NavStrike(
        day=mark.day,
        mark=mark,
        holdings=h,
        token_scale=token_scale,
        token_value_sats=token_value,
        gross_sats=gross,
        fee_accrued_sats=fee_accrued,
        fee_sats=fee,
        distribution_sats=distribution,
        net_sats=net,
        nav_sats_per_share=nav,
    )


@dataclass(frozen=True, slots=True)
class Basket:
    """What k creation units cost (creation) or return (redemption) at a strike."""

    side: str  # "create" | "redeem"
    creation_units: int
    shares: int
    token_units: int
    cash_sats: int
    nav_value_sats: Fraction  # shares × NAV/share, exactly

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "creation_units": self.creation_units,
            "shares": self.shares,
            "token_units": self.token_units,
            "cash_sats": self.cash_sats,
            "nav_value_sats": f"{exact_decimal(self.nav_value_sats):.4f}",
        }


def basket(terms: FundTerms, strike: NavStrike, *, side: str, creation_units: int) -> Basket:
    """The basket of ``creation_units`` units at ``strike`` (see the module doc)."""
    if type(creation_units) is not int or creation_units <= 0:
        raise UsageError(
            "bad_option", option="creation_units", problem="must be a whole number > 0"
        )
    shares = creation_units * terms.creation_unit_shares
    value = shares * strike.nav_sats_per_share
    s = strike.shares
    if s == 0:
        if side == "redeem":
            raise UsageError("bad_option", option="creation_units", problem="no shares to redeem")
        tokens = creation_units * terms.seed_tokens_per_unit
        return Basket(
            side, creation_units, shares, tokens, creation_units * terms.seed_sats_per_unit, value
        )
    if side == "redeem" and shares > s:
        raise UsageError(
            "bad_option",
            option="creation_units",
            problem=f"{shares} shares is more than the {s} outstanding",
        )
    tokens = strike.holdings.token_units * shares // s
    cash_exact = value - Fraction(tokens * strike.mark.mark_sats_per_token, 10**strike.token_scale)
    # The AP pays rounded up and is paid rounded down (money's floor and ceiling rules).
    rounding = Rounding.UP if side == "create" else Rounding.DOWN
    cash = divide_minor(cash_exact.numerator, cash_exact.denominator, rounding)
    return Basket(side, creation_units, shares, tokens, max(cash, 0), value)


# ---- secondary prices and tracking ---------------------------------------------------------


def read_secondary_prices(text: str, *, name: str) -> dict[dt.date, Decimal]:
    """A CSV of ``date,price_sats_per_share`` (one row a day, in date order) → prices."""
    table = read_rows(csv.reader(io.StringIO(text)), SECONDARY_PRICES, name)
    return {
        day: Decimal(repr(float(price)))
        for day, price in zip(
            table.columns["date"], table.columns["price_sats_per_share"], strict=True
        )
    }


@dataclass(frozen=True, slots=True)
class PremiumDay:
    day: dt.date
    nav_sats_per_share: Decimal
    price_sats_per_share: Decimal
    premium: Decimal  # price / NAV − 1 (negative: a discount)


def premium_discount(
    nav_by_day: Mapping[dt.date, Fraction], prices: Mapping[dt.date, Decimal]
) -> list[PremiumDay]:
    """Each day with both a NAV and a secondary price: price ÷ NAV − 1."""
    out = []
    for day in sorted(set(nav_by_day) & set(prices)):
        nav = nav_by_day[day]
        if nav <= 0:
            continue
        premium = Fraction(prices[day]) / nav - 1
        out.append(PremiumDay(day, exact_decimal(nav), prices[day], exact_decimal(premium)))
    return out


@dataclass(frozen=True, slots=True)
class TrackingError:
    """σ of the daily difference of log returns (fund − index), sample (n − 1), and the same
    annualised by √365, over the last ``returns`` daily returns up to ``last_day``."""

    first_day: dt.date
    last_day: dt.date
    returns: int
    daily: float
    annualised: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "returns": self.returns,
            "daily": self.daily,
            "annualised": self.annualised,
        }


def tracking_error(
    days: Sequence[dt.date],
    nav: Sequence[float],
    index: Sequence[float],
    *,
    distributed: Sequence[float] | None = None,
    window_days: int = TRACKING_WINDOW_DAYS,
) -> TrackingError:
    """Tracking error over the last ``window_days`` daily returns of consecutive ``days``.

    The fund's return on day i is its total return, ``ln((NAV[i] + distributed[i]) /
    NAV[i−1])`` (NAV per share, and what was paid out per share on day i); the index's is
    ``ln(index[i] / index[i−1])`` (the hashprice fixing in BTC)."""
    paid = list(distributed) if distributed is not None else [0.0] * len(nav)
    if not len(days) == len(nav) == len(index) == len(paid):
        raise FundError("fund_tracking", problem="the series have different lengths")
    if window_days < 2:
        raise FundError("fund_tracking", problem=f"a window of {window_days} days is too short")
    # Returns over one calendar day only: a day without a fixing breaks the series there.
    ends = [i for i in range(1, len(days)) if (days[i] - days[i - 1]).days == 1][-window_days:]
    if len(ends) < 2:
        raise FundError("fund_tracking", problem=f"{len(ends)} daily return(s); it needs 2 or more")
    if min(min(nav[i], nav[i - 1], index[i], index[i - 1]) for i in ends) <= 0:
        raise FundError("fund_tracking", problem="a NAV or index value is not positive")
    diffs = [
        math.log((nav[i] + paid[i]) / nav[i - 1]) - math.log(index[i] / index[i - 1]) for i in ends
    ]
    daily = statistics.stdev(diffs)
    first, last = days[ends[0] - 1], days[ends[-1]]
    return TrackingError(first, last, len(diffs), daily, daily * math.sqrt(DAYS_PER_YEAR_ACT365))
