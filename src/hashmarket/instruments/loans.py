"""Loans secured by BTC, hashrate tokens or a deliverable hashrate forward: the terms and the
one path payoff.

* **Terms** (:class:`Loan`, :class:`Collateral`, :class:`LoanRounding`): a USD loan seen from
  the lender, its collateral, its LTV levels and how its amounts become ledger units. A
  Luxor-style deliverable hashrate forward is a loan too (``forward_loans.deliverable_forward``).
* **A loan's life on paths** (:func:`loan_life`): day by day, the lender's claim (principal
  accrued at a simple rate, or for a forward the upfront payment less the output delivered so
  far) against the collateral's value. A margin call opens when LTV reaches the margin-call
  level; ``cure_days`` later a borrower who cures tops the collateral up to the initial LTV.
  Liquidation starts when LTV reaches the liquidation level (or a call is not cured); a path
  that reaches it with no call open is called on the same day, so every liquidated path has
  been margin-called (P(liquidation) ≤ P(margin call)); the
  collateral is sold ``liquidation_days`` later at that day's value less the liquidation
  cost; the lender recovers at most its claim and the borrower gets any surplus.
* **The lender's cash flows** (:meth:`Loan.cashflows`) are that engine's output, so a loan sits
  in a portfolio like any instrument (one payoff, two uses): risk reads the probabilities off
  many paths, the ledger books the events of one (:mod:`hashmarket.ledger.loans`).

Collateral values: BTC at the day's close; a hashrate token at its daily pool (whole sats,
never negative, × price) times the days left in its term; a forward's remaining output at the
day's USD hashprice times the days left to deliver (both run-rate values ignore difficulty
growth, which the haircut of :mod:`hashmarket.risk.credit` absorbs); machines at the present
value of their remaining margin (:mod:`hashmarket.instruments.machine_loans`).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from hashmarket.errors import RiskError
from hashmarket.instruments.fixings import Fixings, to_date
from hashmarket.instruments.floating import FloatingRate, floating_claim_usd
from hashmarket.instruments.loan_paths import EventLog as _Log
from hashmarket.instruments.loan_paths import LoanEvent, LoanPaths, sale_in_btc
from hashmarket.instruments.machine_loans import (
    MachineCollateral,
    margin_value_usd,
    secondary_fraction,
)
from hashmarket.instruments.terms import SettlementCurrency
from hashmarket.instruments.tokens import HashrateToken
from hashmarket.money import Rounding
from hashmarket.units import DAYS_PER_YEAR_ACT365, SATS_PER_BTC

FloatArray = npt.NDArray[np.float64]


class CollateralKind(enum.StrEnum):
    BTC = "btc"
    TOKEN = "token"
    HASHRATE_FORWARD = "hashrate_forward"
    # A running hashpower contract or the unused part of a GPU block bought on the exchange:
    # marked from the exchange's prices and the GPU-hour index, not simulated on paths
    # (hashmarket.market.collateral values it and applies the haircut).
    COMPUTE_CONTRACT = "compute_contract"
    # Mining machines, each worth the discounted margin it has left on the path
    # (hashmarket.instruments.machine_loans).
    MACHINES = "machines"


def _bad(field_name: str, problem: str) -> RiskError:
    return RiskError("risk_field", field=field_name, problem=problem)


# ---- loan terms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Collateral:
    """What secures a loan: ``quantity`` BTC, tokens (each ``token``), machines (each
    ``machine``), or for a deliverable hashrate forward the PH/s delivered every day."""

    kind: CollateralKind
    quantity: float
    token: HashrateToken | None = None
    machine: MachineCollateral | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CollateralKind(self.kind))
        if not (self.quantity > 0 and math.isfinite(self.quantity)):
            raise _bad("collateral.quantity", f"{self.quantity} must be greater than zero")
        if (self.kind is CollateralKind.TOKEN) != (self.token is not None):
            raise _bad("collateral.token", "token collateral needs the token's terms (only it)")
        if (self.kind is CollateralKind.MACHINES) != (self.machine is not None):
            raise _bad("collateral.machine", "machine collateral needs the machine's terms")

    @property
    def unit(self) -> str:
        return {
            "btc": "BTC",
            "token": "tokens",
            "hashrate_forward": "PH/s",
            "compute_contract": "contracts",
            "machines": "machines",
        }[self.kind.value]


@dataclass(frozen=True)
class LoanRounding:
    """How a loan's amounts become the ledger's minor units, by who bears the rounding."""

    # The principal disbursed and the lender's recovery claim at a sale: to the nearest unit.
    principal: Rounding = Rounding.HALF_UP
    # What the borrower pledges, tops up, posts as margin or repays: up, so the lender is
    # never short by rounding.
    owed: Rounding = Rounding.UP
    # What is delivered (a forward's output) or paid by a sale's buyer: down, never more
    # than there is.
    proceeds: Rounding = Rounding.DOWN


@dataclass(frozen=True)
class Loan:
    """A USD loan secured by collateral, seen from the lender (instrument-like: it has a
    ``cashflows`` and can sit in a portfolio).

    For a deliverable hashrate forward (Luxor style, built by :func:`deliverable_forward`)
    ``principal_usd`` is the upfront payment, ``rate_per_year`` is 0 (the discount is in the
    price and the margin) and the loan is repaid by the output delivered every day from
    ``start`` to ``maturity``: ``collateral.quantity`` PH/s × the day's hashprice. Its margin
    calls are met in cash.
    """

    type_name: ClassVar[str] = "loan"

    loan_id: str
    principal_usd: float
    rate_per_year: float
    start: dt.date
    maturity: dt.date
    collateral: Collateral
    initial_ltv: float
    margin_call_ltv: float
    liquidation_ltv: float
    liquidation_cost: float = 0.02
    liquidation_days: int = 1
    cure_days: int = 2
    borrower_cures: bool = True
    # A loan of BTC: the lender lends ``principal_btc`` and is owed BTC (interest accrued on
    # it), valued at the day's close; ``principal_usd`` is then what it was worth when agreed.
    principal_btc: float | None = None
    rounding: LoanRounding = LoanRounding()
    # None: the fixed ``rate_per_year``. Otherwise the lending reference rate plus a spread,
    # reset every tenor period (hashmarket.instruments.floating).
    floating: FloatingRate | None = None

    def __post_init__(self) -> None:
        if not self.loan_id or not isinstance(self.loan_id, str):
            raise _bad("loan_id", "must be a non-empty string")
        if not (self.principal_usd > 0 and math.isfinite(self.principal_usd)):
            raise _bad("principal_usd", f"{self.principal_usd} must be greater than zero")
        if not (math.isfinite(self.rate_per_year) and self.rate_per_year >= 0):
            raise _bad("rate_per_year", f"{self.rate_per_year} must not be negative")
        if self.maturity <= self.start:
            raise _bad("maturity", f"{self.maturity} must be after start {self.start}")
        if not 0 < self.initial_ltv < self.margin_call_ltv < self.liquidation_ltv < 1:
            raise _bad(
                "ltv",
                "need 0 < initial_ltv < margin_call_ltv < liquidation_ltv < 1, got "
                f"{self.initial_ltv:.4f}, {self.margin_call_ltv:.4f}, {self.liquidation_ltv:.4f}",
            )
        if not 0 <= self.liquidation_cost < 1:
            raise _bad("liquidation_cost", f"{self.liquidation_cost} must be in [0, 1)")
        if self.liquidation_days < 0 or self.cure_days < 0:
            raise _bad("liquidation_days", "liquidation_days and cure_days must be >= 0")
        if self.principal_btc is not None:
            if not (math.isfinite(self.principal_btc) and self.principal_btc > 0):
                raise _bad("principal_btc", f"{self.principal_btc} must be greater than zero")
            if self.collateral.kind is CollateralKind.HASHRATE_FORWARD:
                raise _bad("principal_btc", "a deliverable forward is paid for in USD")
            if self.floating is not None:
                raise _bad("floating", "only a USD loan floats on the lending reference rate")

    @property
    def currency(self) -> SettlementCurrency:
        return SettlementCurrency.USD

    @property
    def is_forward(self) -> bool:
        return self.collateral.kind is CollateralKind.HASHRATE_FORWARD

    @property
    def term_days(self) -> int:
        return (self.maturity - self.start).days

    def claim_usd(self, day: dt.date) -> float:
        """Principal with simple interest accrued to ``day`` (the bullet repayment at maturity)."""
        if self.floating is not None:
            return floating_claim_usd(
                self.floating, self.principal_usd, self.rounding.principal, day
            )
        days = max(0, (min(day, self.maturity) - self.start).days)
        return self.principal_usd * (1.0 + self.rate_per_year * days / DAYS_PER_YEAR_ACT365)

    @property
    def borrows_btc(self) -> bool:
        return self.principal_btc is not None

    def claim_btc(self, day: dt.date) -> float:
        """A BTC loan's claim in BTC: ``principal_btc`` with simple interest accrued to ``day``."""
        if self.principal_btc is None:
            raise _bad("principal_btc", "a USD loan has no claim in BTC")
        days = max(0, (min(day, self.maturity) - self.start).days)
        return self.principal_btc * (1.0 + self.rate_per_year * days / DAYS_PER_YEAR_ACT365)

    def fixing_window(self, *, asof: dt.date, height: int) -> tuple[dt.date, dt.date]:
        # A loan's past is its current state (collateral held now, interest accrued), not a
        # replay: the window starts at the valuation date.
        last = self.maturity + dt.timedelta(days=self.liquidation_days + self.cure_days)
        return max(self.start, asof), last

    def cashflows(self, fixings: Fixings) -> FloatArray:
        """The lender's USD cash flows per day: −principal on ``start`` (if covered), the
        output delivered (forward), the repayment at maturity or the liquidation recovery."""
        return loan_life(self, fixings).lender_cash_usd

    def cashflows_and_end(self, fixings: Fixings) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """The cash flows of :meth:`cashflows` and, per path, the column (from the first of
        ``fixings``) of the collateral sale after which the loan pays nothing more, whatever
        happens next; −1 where it runs to maturity. A valuation at a later day gives such a
        path no mark."""
        life = loan_life(self, fixings)
        end = np.where(life.liquidated, life.liquidation_day + self.liquidation_days, -1)
        return life.lender_cash_usd, end.astype(np.int64)


# ---- a loan's life on paths ----------------------------------------------------------------


@dataclass
class _State:
    """Per-path state of the loan engine (mutable, private to one call)."""

    active: npt.NDArray[np.bool_]
    units: FloatArray
    cash_margin: FloatArray
    delivered: FloatArray
    call_due: npt.NDArray[np.int64]
    sale_due: npt.NDArray[np.int64]
    events: list[list[LoanEvent]] | None = field(default=None)
    # The day's share of the collateral's value a sale fetches, and (BTC loans) BTC/USD.
    sale_share: FloatArray | float = 1.0
    price_usd: FloatArray | None = None


def collateral_unit_values(loan: Loan, fixings: Fixings, col: int) -> FloatArray:
    """USD value of one unit of collateral at the end of column ``col``, per path."""
    kind = loan.collateral.kind
    day = to_date(fixings.dates[col])
    if kind is CollateralKind.MACHINES:
        machine = loan.collateral.machine
        assert machine is not None
        hashprice = _column(fixings, "hashprice_usd_per_ph_day", col)
        return margin_value_usd(machine, hashprice_usd_per_ph_day=hashprice, day=day)
    price = _column(fixings, "price_usd", col)
    if kind is CollateralKind.BTC:
        return price
    if kind is CollateralKind.COMPUTE_CONTRACT:
        raise RiskError(
            "risk_option",
            name="collateral",
            problem="a compute contract is marked from the exchange "
            "(hashmarket.market.collateral), not simulated on paths",
        )
    if kind is CollateralKind.TOKEN:
        token = loan.collateral.token
        assert token is not None
        remaining = max(0, (token.end - max(day, token.start - dt.timedelta(days=1))).days)
        pool_sats = token.pool_sats(
            hashprice_btc_per_ph_day=_column(fixings, "hashprice_btc_per_ph_day", col),
            price_usd=price,
        )
        return pool_sats / SATS_PER_BTC * price * remaining
    remaining = max(0, (loan.maturity - day).days)
    return _column(fixings, "hashprice_usd_per_ph_day", col) * remaining


def sale_share(loan: Loan, fixings: Fixings, col: int) -> FloatArray | float:
    """The share of its value the collateral fetches when sold at the end of column ``col``:
    1 − the liquidation cost; for machines also the secondary market's fraction φ."""
    share = 1.0 - loan.liquidation_cost
    machine = loan.collateral.machine
    if machine is None:
        return share
    hashprice = _column(fixings, "hashprice_usd_per_ph_day", col)
    return secondary_fraction(machine, hashprice) * share


def _column(fixings: Fixings, name: str, col: int) -> FloatArray:
    values = fixings.values.get(name)
    if values is None:
        raise RiskError("risk_option", name="fixings", problem=f"a loan needs the {name!r} fixings")
    out = np.broadcast_to(values[:, col], (fixings.n_paths,))
    return np.asarray(out, dtype=np.float64)


class _Life:
    """One run of a loan over every path of some fixings: the per-path state, the arrays the
    run fills day by day, and the events of each path (when recorded)."""

    def __init__(self, loan: Loan, fixings: Fixings, *, record_events: bool) -> None:
        n, n_days = fixings.n_paths, fixings.n_periods
        self.loan = loan
        self.fixings = fixings
        self.n, self.n_days = n, n_days
        self.day_of = [to_date(d) for d in fixings.dates]
        self.cash = np.zeros((n, n_days))
        self.ltv = np.full((n, n_days), math.nan)
        self.state = _State(
            active=np.zeros(n, dtype=bool),
            units=np.full(n, float(loan.collateral.quantity)),
            cash_margin=np.zeros(n),
            delivered=np.zeros(n),
            call_due=np.full(n, -1, dtype=np.int64),
            sale_due=np.full(n, -1, dtype=np.int64),
            events=[[] for _ in range(n)] if record_events else None,
        )
        self.margin_calls = np.zeros(n, dtype=np.int64)
        self.liquidation_day = np.full(n, -1, dtype=np.int64)
        self.loss = np.zeros(n)
        self.top_units = np.zeros(n)
        self.top_usd = np.zeros(n)

    def log(self, mask: npt.NDArray[np.bool_], col: int, kind: str, **amounts: FloatArray) -> None:
        events = self.state.events
        if events is None:
            return
        for p in np.flatnonzero(mask):
            values = {k: float(v[p]) for k, v in amounts.items()}
            events[p].append(LoanEvent(self.day_of[col], kind, **values))

    def disburse(self, col: int) -> None:
        """The start day: the principal is lent and the collateral pledged on every path."""
        n, loan = self.n, self.loan
        self.state.active[:] = True
        everyone = np.ones(n, dtype=bool)
        if loan.principal_btc is None:
            self.cash[:, col] -= loan.principal_usd
            self.log(everyone, col, "disbursement", usd=np.full(n, loan.principal_usd))
        else:
            lent_usd = loan.principal_btc * _column(self.fixings, "price_usd", col)
            self.cash[:, col] -= lent_usd
            lent_btc = np.full(n, loan.principal_btc)
            self.log(everyone, col, "disbursement", usd=lent_usd, btc=lent_btc)
        self.log(everyone, col, "pledge", units=self.state.units.copy())

    def step(self, col: int) -> None:
        """One day of a started loan: sales due, deliveries, the LTV, maturity, liquidation,
        cures and new margin calls."""
        loan, state = self.loan, self.state
        day = self.day_of[col]
        values = collateral_unit_values(loan, self.fixings, col)
        state.sale_share = sale_share(loan, self.fixings, col)
        if loan.borrows_btc:
            state.price_usd = _column(self.fixings, "price_usd", col)
        # A sale that falls due today closes the loan on its path.
        selling = state.sale_due == col
        if selling.any():
            _sell(loan, day, col, selling, values, state, self.cash, self.loss, self.log)
        live = state.active & (state.sale_due < 0)
        if loan.is_forward and loan.start <= day <= loan.maturity:
            self.deliver(col, live)
        outstanding = _outstanding(loan, day, state)
        collateral_usd = state.units * values + state.cash_margin
        with np.errstate(divide="ignore", invalid="ignore"):
            today = np.where(collateral_usd > 0, outstanding / collateral_usd, np.inf)
        today = np.where(outstanding <= 0, 0.0, today)
        self.ltv[:, col] = np.where(live, today, math.nan)
        if day >= loan.maturity:
            _mature(loan, day, col, live, outstanding, state, self.cash, self.loss, self.log)
            return
        # Liquidation: the level is reached, or a call falls due and is not cured.
        # A call whose cure window ends today: the borrower tops up if the LTV is still at or
        # above the call level; a borrower who does not cure is liquidated instead.
        due = live & (state.call_due == col)
        still_called = due & (today >= loan.margin_call_ltv)
        cured = still_called if loan.borrower_cures else np.zeros(self.n, dtype=bool)
        failed = np.zeros(self.n, dtype=bool) if loan.borrower_cures else still_called
        liquidate = live & ((today >= loan.liquidation_ltv) | failed)
        if liquidate.any():
            self.liquidate(col, liquidate, today, values)
        cured &= ~liquidate
        if cured.any():
            self.top_up(col, cured, outstanding / loan.initial_ltv - collateral_usd, values)
        state.call_due[due] = -1
        calling = live & ~liquidate & (state.call_due < 0) & (today >= loan.margin_call_ltv)
        calling &= ~due  # a call just cured is not reopened the same day
        if calling.any():
            state.call_due[calling] = col + loan.cure_days
            self.margin_calls += calling
            self.log(calling, col, "margin_call", ltv=today)

    def deliver(self, col: int, live: npt.NDArray[np.bool_]) -> None:
        """A forward's delivery of the day's output on the live paths."""
        quantity = self.loan.collateral.quantity
        delivered = quantity * _column(self.fixings, "hashprice_usd_per_ph_day", col)
        delivered = np.where(live, delivered, 0.0)
        self.cash[:, col] += delivered
        self.state.delivered += delivered
        btc = quantity * _column(self.fixings, "hashprice_btc_per_ph_day", col)
        self.log(live, col, "delivery", usd=delivered, units=np.where(live, btc, 0.0))

    def liquidate(
        self, col: int, liquidate: npt.NDArray[np.bool_], today: FloatArray, values: FloatArray
    ) -> None:
        loan, state = self.loan, self.state
        # The liquidation level lies above the call level: a path that reaches it with
        # no call open has reached the call level too, on the same day (a jump, or a
        # forward-starting loan whose collateral is short at disbursement). The call is
        # made and liquidation starts at once, without a cure window.
        jumped = liquidate & (state.call_due < 0)
        self.margin_calls += jumped
        self.log(jumped, col, "margin_call", ltv=today)
        state.sale_due[liquidate] = min(col + loan.liquidation_days, self.n_days - 1)
        state.call_due[liquidate] = -1
        self.liquidation_day[liquidate] = col
        self.log(liquidate, col, "liquidation", ltv=today)
        now = liquidate & (state.sale_due == col)
        if now.any():  # no time to sell (or no days left): sell at today's value
            day = self.day_of[col]
            _sell(loan, day, col, now, values, state, self.cash, self.loss, self.log)

    def top_up(
        self, col: int, cured: npt.NDArray[np.bool_], shortfall: FloatArray, values: FloatArray
    ) -> None:
        """The cure: collateral (or a forward's cash margin) back to the initial LTV."""
        needed = np.where(cured, np.maximum(shortfall, 0.0), 0.0)
        if self.loan.is_forward:
            self.state.cash_margin += needed
            self.top_usd += needed
            self.log(cured, col, "top_up", usd=needed)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                units = np.where(values > 0, needed / values, 0.0)
            if self.loan.collateral.kind is CollateralKind.MACHINES:
                # Machines are pledged whole: enough of them to reach the initial LTV.
                units = np.ceil(units)
                needed = units * values
            self.state.units += units
            self.top_units += units
            self.top_usd += needed
            self.log(cured, col, "top_up", units=units, usd=needed)

    def paths(self) -> LoanPaths:
        recorded = self.state.events
        events = None if recorded is None else tuple(tuple(e) for e in recorded)
        return LoanPaths(
            dates=self.fixings.dates,
            ltv=self.ltv,
            lender_cash_usd=self.cash,
            margin_called=self.margin_calls > 0,
            margin_calls=self.margin_calls,
            liquidated=self.liquidation_day >= 0,
            liquidation_day=self.liquidation_day,
            loss_usd=self.loss,
            top_up_units=self.top_units,
            top_up_usd=self.top_usd,
            events=events,
        )


def loan_life(loan: Loan, fixings: Fixings, *, record_events: bool = False) -> LoanPaths:
    """Run ``loan`` over every path of ``fixings`` (see the module docstring for the rules).

    Column 0 of ``fixings`` is the first day looked at; a loan that started before it is
    taken as it stands then (its collateral ``quantity`` and interest accrued to that day).
    """
    life = _Life(loan, fixings, record_events=record_events)
    started = life.day_of[0] > loan.start
    if started:
        life.state.active[:] = True
    for col in range(life.n_days):
        if not started and life.day_of[col] == loan.start:
            started = True
            life.disburse(col)
        if started:
            life.step(col)
    return life.paths()


def _outstanding(loan: Loan, day: dt.date, state: _State) -> FloatArray:
    """The lender's exposure: accrued claim, or for a forward the upfront not yet delivered."""
    if loan.is_forward:
        return np.asarray(loan.principal_usd - state.delivered, dtype=np.float64)
    if loan.borrows_btc:
        assert state.price_usd is not None
        return np.asarray(loan.claim_btc(day) * state.price_usd, dtype=np.float64)
    return np.full(len(state.units), loan.claim_usd(day))


def _sell(
    loan: Loan,
    day: dt.date,
    col: int,
    mask: npt.NDArray[np.bool_],
    values: FloatArray,
    state: _State,
    cash: FloatArray,
    loss: FloatArray,
    log: _Log,
) -> None:
    """Sell the collateral of the paths in ``mask`` at today's value less the cost."""
    outstanding = np.maximum(_outstanding(loan, day, state), 0.0)
    proceeds = state.units * values * state.sale_share + state.cash_margin
    recovery = np.minimum(outstanding, proceeds)
    cash[:, col] += np.where(mask, recovery, 0.0)
    loss += np.where(mask, outstanding - recovery, 0.0)
    claim_btc = loan.claim_btc(day) if loan.borrows_btc else None
    btc = sale_in_btc(claim_btc, state.price_usd, recovery=recovery, proceeds=proceeds)
    log(
        mask,
        col,
        "sale",
        units=state.units.copy(),
        usd=recovery,
        **btc["sale"],
    )
    log(mask, col, "surplus", usd=proceeds - recovery, **btc["surplus"])
    state.active &= ~mask
    state.sale_due[mask] = -1


def _mature(
    loan: Loan,
    day: dt.date,
    col: int,
    live: npt.NDArray[np.bool_],
    outstanding: FloatArray,
    state: _State,
    cash: FloatArray,
    loss: FloatArray,
    log: _Log,
) -> None:
    """Maturity: a loan is repaid its claim; a forward has delivered everything it owed, and
    what it delivered short of the upfront is the lender's loss."""
    if loan.is_forward:
        loss += np.where(live, np.maximum(outstanding, 0.0), 0.0)
        log(live, col, "repayment", usd=np.zeros(len(live)))
    else:
        cash[:, col] += np.where(live, outstanding, 0.0)
        btc = {"btc": np.full(len(live), loan.claim_btc(day))} if loan.borrows_btc else {}
        log(live, col, "repayment", usd=outstanding, **btc)
    log(live, col, "release", units=state.units.copy(), usd=state.cash_margin.copy())
    state.active &= ~live
