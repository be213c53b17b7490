"""Machine financial lease (or instalment loan): machines financed over N months, the
instalment schedule in exact cents, the default rule and the lessor's cash flows on paths.

**Schedule** (:func:`annuity_schedule`): the financed amount F = machines × price − down
payment, in cents; the monthly rate r = ``rate_per_year`` ÷ 12; the instalment
``A = F × r ÷ (1 − (1 + r)^−N)`` (F ÷ N at a zero rate) rounded half up to the cent. Each
month's interest is the balance × r rounded half up to the cent and the principal is A less
that interest; the last instalment repays the balance left, so the principal column sums to
F exactly and every amount is a whole number of cents. Instalment m is due m calendar
months after ``start`` (the day of the month kept, or the month's last day).

**Title**: the lessor owns the machines until the last instalment is paid, then title passes
to the lessee (an instalment loan with retention of title books the same way).

**Default**: month m runs from due date m−1 (``start`` for m = 1) to the day before due date
m. Its mining margin is the machines' net output over those days by the hashrate token's
rule (:meth:`HashrateToken.pool_sats`: gross output less power, a day below its power cost
earning 0 as the machines are switched off) in USD at each day's BTC price. A month whose
margin is below its instalment is *short*; the lessee pays short months from elsewhere until
``default_months`` consecutive months are short: then it defaults on that month's due date
and pays nothing more. Exposure at default (EAD) is the principal balance outstanding after
the last instalment paid.

**Recovery**: the lessor repossesses and sells the machines on the default day by the forced-
sale rule of machine-backed loans (:mod:`hashmarket.instruments.machine_loans`): a machine
fetches its margin value ``V`` (the discounted margin it has left until ``end_of_life`` at the
day's hashprice, difficulty growing at ``difficulty_growth_per_year``) times
``φ(h) = secondary_floor + (secondary_fraction − secondary_floor) × min(1, h ÷
reference_hashprice_usd_per_ph_day)``, a price that falls with hashprice; less
``recovery_cost`` of the proceeds. The lessor keeps at most the EAD (any surplus goes back to
the lessee). Loss = EAD − recovery.

The lessor's cash flows (:meth:`MachineLease.cashflows`, USD): −F on ``start``, each
instalment paid on its due date, the recovery on the default day.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import SpecError
from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.hosting import set_decimal_terms
from hashmarket.instruments.machine_loans import (
    MachineCollateral,
    margin_value_usd,
    secondary_fraction,
)
from hashmarket.instruments.terms import (
    FloatArray,
    SettlementCurrency,
    require_date,
    require_int,
    require_order,
)
from hashmarket.instruments.tokens import HashrateToken
from hashmarket.money import DECIMAL, Rounding, round_minor
from hashmarket.units import CENTS_PER_USD, SATS_PER_BTC

IntArray = npt.NDArray[np.int64]
MONTHS_PER_YEAR = 12
CENT = Decimal("0.01")


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved ``months`` calendar months on, kept at the month's last day if needed."""
    index = day.month - 1 + months
    year, month = day.year + index // MONTHS_PER_YEAR, index % MONTHS_PER_YEAR + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class Instalment:
    """One month of the schedule, amounts in cents."""

    month: int
    due: dt.date
    payment_cents: int
    interest_cents: int
    principal_cents: int
    balance_cents: int  # outstanding after this instalment

    def to_dict(self) -> dict[str, object]:
        return {
            "month": self.month,
            "due": self.due.isoformat(),
            "payment_cents": self.payment_cents,
            "interest_cents": self.interest_cents,
            "principal_cents": self.principal_cents,
            "balance_cents": self.balance_cents,
        }


# Every amount of the schedule is rounded half up to the cent, as loan schedules are.
SCHEDULE_ROUNDING = Rounding.HALF_UP


def _cents(amount: Decimal) -> int:
    return round_minor(amount, SCHEDULE_ROUNDING)


def annuity_schedule(
    *, financed_cents: int, rate_per_year: Decimal, months: int, start: dt.date
) -> tuple[Instalment, ...]:
    """The level-payment schedule of ``financed_cents`` over ``months`` (see the module
    docstring); principal sums to ``financed_cents`` exactly."""
    with_context = DECIMAL
    r = with_context.divide(rate_per_year, Decimal(MONTHS_PER_YEAR))
    if r == 0:
        payment = _cents(with_context.divide(Decimal(financed_cents), Decimal(months)))
    else:
        growth = with_context.power(1 + r, -months)
        payment = _cents(with_context.divide(financed_cents * r, 1 - growth))
    balance = financed_cents
    rows = []
    for m in range(1, months + 1):
        interest = _cents(with_context.multiply(Decimal(balance), r))
        principal = balance if m == months else min(payment - interest, balance)
        balance -= principal
        rows.append(
            Instalment(m, add_months(start, m), principal + interest, interest, principal, balance)
        )
    assert sum(row.principal_cents for row in rows) == financed_cents and balance == 0
    return tuple(rows)


@dataclass(frozen=True, kw_only=True)
class MachineLease:
    """``machines`` machines of ``hashrate_ths_per_machine`` TH/s at ``efficiency_j_per_th``,
    bought at ``price_usd_per_machine`` and financed from ``start`` over ``months`` monthly
    instalments after ``down_payment_usd``; seen from the lessor."""

    type_name: ClassVar[str] = "machine_lease"

    start: dt.date
    months: int
    machines: int
    hashrate_ths_per_machine: Decimal
    efficiency_j_per_th: Decimal
    price_usd_per_machine: Decimal
    down_payment_usd: Decimal
    rate_per_year: Decimal
    power_price_usd_per_kwh: Decimal
    end_of_life: dt.date
    reference_hashprice_usd_per_ph_day: Decimal
    uptime: Decimal = Decimal(1)
    default_months: int = 2
    difficulty_growth_per_year: Decimal = Decimal(0)
    secondary_fraction: Decimal = Decimal("0.6")
    secondary_floor: Decimal = Decimal("0.2")
    recovery_cost: Decimal = Decimal("0.1")
    machine_model: str | None = None

    def __post_init__(self) -> None:
        require_date("start", self.start)
        for name in ("months", "machines", "default_months"):
            if require_int(name, getattr(self, name)) < 1:
                raise SpecError("spec_not_positive", field=name, value=getattr(self, name))
        bounds = {  # field: (must be positive, at most 1)
            "hashrate_ths_per_machine": (True, False),
            "efficiency_j_per_th": (True, False),
            "price_usd_per_machine": (True, False),
            "down_payment_usd": (False, False),
            "rate_per_year": (False, False),
            "power_price_usd_per_kwh": (False, False),
            "uptime": (False, True),
            "reference_hashprice_usd_per_ph_day": (True, False),
            "difficulty_growth_per_year": (False, False),
            "secondary_fraction": (False, True),
            "secondary_floor": (False, True),
            "recovery_cost": (False, True),
        }
        set_decimal_terms(self, bounds)
        require_order(
            "end_of_life", require_date("end_of_life", self.end_of_life), "start", self.start
        )
        if self.secondary_floor > self.secondary_fraction:
            raise SpecError(
                "spec_out_of_range",
                field="secondary_floor",
                value=str(self.secondary_floor),
                bound=f"at most secondary_fraction ({self.secondary_fraction})",
            )
        if self.financed_cents <= 0:
            raise SpecError(
                "spec_out_of_range",
                field="down_payment_usd",
                value=str(self.down_payment_usd),
                bound=f"less than the price of the machines, "
                f"{self.machines} × {self.price_usd_per_machine}",
            )

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def hashrate_ths(self) -> Decimal:
        return self.hashrate_ths_per_machine * self.machines

    @property
    def financed_cents(self) -> int:
        price = self.price_usd_per_machine * self.machines - self.down_payment_usd
        return _cents(price * CENTS_PER_USD)

    @property
    def schedule(self) -> tuple[Instalment, ...]:
        return annuity_schedule(
            financed_cents=self.financed_cents,
            rate_per_year=self.rate_per_year,
            months=self.months,
            start=self.start,
        )

    @property
    def end(self) -> dt.date:
        return add_months(self.start, self.months)

    @property
    def fleet(self) -> HashrateToken:
        """The machines as a token of their whole hashrate: its pool is the day's margin."""
        return HashrateToken(
            ths_per_token=self.hashrate_ths,
            efficiency_w_per_th=self.efficiency_j_per_th,
            power_price_usd_per_kwh=self.power_price_usd_per_kwh,
            start=self.start,
            end=self.end,
            uptime=self.uptime,
        )

    @property
    def machine(self) -> MachineCollateral:
        """One machine as machine-backed loans value it: the forced-sale rule's terms."""
        return MachineCollateral(
            model=self.machine_model or "custom",
            hashrate_ths=float(self.hashrate_ths_per_machine),
            efficiency_j_per_th=float(self.efficiency_j_per_th),
            power_usd_per_kwh=float(self.power_price_usd_per_kwh),
            end_of_life=self.end_of_life,
            reference_hashprice_usd_per_ph_day=float(self.reference_hashprice_usd_per_ph_day),
            difficulty_growth_per_year=float(self.difficulty_growth_per_year),
            secondary_fraction=float(self.secondary_fraction),
            secondary_floor=float(self.secondary_floor),
        )

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        return self.start, self.end

    def cashflows(self, fixings: Fixings) -> FloatArray:
        """The lessor's USD cash flows per day (see the module docstring)."""
        return lease_life(self, fixings).lessor_cash_usd


@dataclass(frozen=True)
class LeasePaths:
    """A lease on fixings, per path: the default month (0: none within the fixings), the
    EAD, the recovery and the loss in USD, the months' margins ``[paths, months]`` (NaN for
    months the fixings do not complete), and the lessor's cash flows ``[paths, periods]``."""

    default_month: IntArray
    ead_usd: FloatArray
    recovery_usd: FloatArray
    loss_usd: FloatArray
    margin_usd: FloatArray
    lessor_cash_usd: FloatArray


def month_margins_usd(lease: MachineLease, fixings: Fixings) -> FloatArray:
    """Each month's mining margin in USD ``[paths, months]``; NaN where the fixings do not
    cover the whole month."""
    hp = fixings.values.get("hashprice_btc_per_ph_day")
    price = fixings.values.get("price_usd")
    out = np.full((fixings.n_paths, lease.months), np.nan)
    if hp is None or price is None:
        return out
    pool = lease.fleet.pool_sats(hashprice_btc_per_ph_day=hp, price_usd=price)
    daily_usd = np.broadcast_to(pool * price / SATS_PER_BTC, (fixings.n_paths, fixings.n_periods))
    first = lease.start
    for row in lease.schedule:
        last = row.due - dt.timedelta(days=1)
        if fixings.covers(first) and fixings.covers(last):
            lo, hi = fixings.index_of(first), fixings.index_of(last)
            out[:, row.month - 1] = daily_usd[:, lo : hi + 1].sum(axis=1)
        first = row.due
    return out


def lease_life(lease: MachineLease, fixings: Fixings) -> LeasePaths:
    """Defaults, exposure, recovery and the lessor's cash flows on ``fixings``."""
    schedule = lease.schedule
    margins = month_margins_usd(lease, fixings)
    paths = fixings.n_paths
    payments = np.array([row.payment_cents / CENTS_PER_USD for row in schedule])
    short = margins < payments[None, :]  # NaN (an incomplete month) is never short
    run = np.zeros(paths, dtype=np.int64)
    default = np.zeros(paths, dtype=np.int64)
    for m in range(lease.months):
        run = np.where(short[:, m], run + 1, 0)
        default = np.where((default == 0) & (run >= lease.default_months), m + 1, default)
    balances = np.array([lease.financed_cents] + [row.balance_cents for row in schedule])
    ead = np.where(default > 0, balances[np.maximum(default - 1, 0)] / CENTS_PER_USD, 0.0)
    cash = fixings.zeros()
    if fixings.covers(lease.start):
        cash[:, fixings.index_of(lease.start)] -= lease.financed_cents / CENTS_PER_USD
    for row in schedule:
        if fixings.covers(row.due):
            paid = (default == 0) | (row.month < default)
            cash[:, fixings.index_of(row.due)] += np.where(paid, payments[row.month - 1], 0.0)
    recovery = _recoveries(lease, fixings, default, ead)
    for m in np.unique(default[default > 0]):
        due = schedule[int(m) - 1].due
        if fixings.covers(due):
            cash[:, fixings.index_of(due)] += np.where(default == m, recovery, 0.0)
    return LeasePaths(default, ead, recovery, np.maximum(ead - recovery, 0.0), margins, cash)


def _recoveries(
    lease: MachineLease, fixings: Fixings, default: IntArray, ead: FloatArray
) -> FloatArray:
    """What the lessor keeps from selling the machines on each path's default day: the
    machine-loan forced-sale price, less the recovery cost, at most the EAD."""
    recovery = np.zeros(fixings.n_paths)
    hp = fixings.values.get("hashprice_usd_per_ph_day")
    if hp is None or not (default > 0).any():
        return recovery
    hp = np.broadcast_to(hp, (fixings.n_paths, fixings.n_periods))
    machine = lease.machine
    net = 1.0 - float(lease.recovery_cost)
    for m in np.unique(default[default > 0]):
        due = lease.schedule[int(m) - 1].due
        if not fixings.covers(due):
            continue
        on = default == m
        h = hp[on, fixings.index_of(due)]
        value = margin_value_usd(machine, hashprice_usd_per_ph_day=h, day=due)
        sale = lease.machines * value * secondary_fraction(machine, h) * net
        recovery[on] = np.minimum(sale, ead[on])
    return recovery
