"""Two questions about a loan against mining machines, answered on one set of scenarios.

* **Borrow BTC or USD?** (:func:`currency_comparison`) The same machines secure a loan of
  ``principal_usd`` in USD, or of ``principal_usd / S₀`` BTC (its twin, :func:`btc_twin`);
  both run through :func:`~hashmarket.instruments.loans.loan_life` on the same paths. For
  each: the lender's probabilities of a margin call and of liquidation, expected and 99 %
  loss, and its USD P&L; and the miner's net position at maturity in USD::

      X_T = S_T · B_T + (units_T · V_T − D_T   if the loan ran to maturity
                         surplus of the sale   if it was liquidated) − top-ups

  ``B_T`` = BTC mined by the pledged machines while held (revenue in BTC less the power
  bill sold at each day's close), ``V_T`` = a machine's margin value at maturity, ``D_T`` the
  debt repaid (USD: the accrued claim; BTC: the accrued BTC claim × S_T), top-ups = value of
  the machines added to cure calls, on the day pledged (they came from outside the pledge).
  The loan's proceeds paid for the machines, so they are not counted again.
* **Lender protection** (:func:`protection_analysis`): the lender buys European puts expiring
  at maturity, struck where the collateral reaches the liquidation LTV at maturity, so the
  protection starts at the liquidation line; the quantity replaces what a sale recovers
  less per unit of the underlying below the strike. BTC collateral: a put on BTC/USD, strike
  ``claim_T / (LTV_liq · Q)``, on ``Q · (1 − cost)`` BTC. Machines: a put on the USD
  hashprice index, strike ``h*`` with ``Q · V(h*) = claim_T / LTV_liq`` (bisection: V rises
  with h), on ``Q · φ(h*) · (1 − cost) · ∂V/∂h(h*)`` PH/s·days. The puts are priced by the
  pricing engines (``price``: Black–Scholes for BTC, Monte Carlo for hashprice); their payoff
  on each scenario is their own ``cashflows``. Reported: the credit loss, the part of it the
  payoff does not cover, ``max(loss − payoff, 0)``, and the lender's net loss with the
  premium, ``loss − payoff + premium`` (negative where the put paid more than was lost).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from hashmarket.errors import RiskError
from hashmarket.instruments import (
    CollateralKind,
    EuropeanOption,
    Fixings,
    Loan,
    LoanPaths,
    MachineCollateral,
    OptionType,
    Side,
    Underlying,
    collateral_unit_values,
    loan_life,
    margin_value_slope_ph_days,
    margin_value_usd,
    sale_share,
    secondary_fraction,
)
from hashmarket.models import NetworkModel, NetworkState
from hashmarket.pricing import Market, MonteCarloConfig, price
from hashmarket.risk.credit import LoanSummary, summarize
from hashmarket.risk.loan_analysis import _scenario_fixings
from hashmarket.units import TH_PER_PH

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _stats(values: FloatArray) -> dict[str, float]:
    q = np.quantile(values, [0.01, 0.05, 0.5, 0.95])
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "p1": float(q[0]),
        "p5": float(q[1]),
        "p50": float(q[2]),
        "p95": float(q[3]),
    }


def _machine(loan: Loan) -> MachineCollateral:
    machine = loan.collateral.machine
    if machine is None:
        raise RiskError(
            "risk_option",
            name="collateral",
            problem=f"{loan.loan_id}: needs machine collateral, not {loan.collateral.kind.value}",
        )
    return machine


def btc_twin(loan: Loan, *, price_usd: float, rate_per_year: float) -> Loan:
    """The same loan borrowed in BTC: ``principal_usd / price_usd`` BTC at ``rate_per_year``."""
    if loan.borrows_btc:
        raise RiskError("risk_option", name="loan", problem="give the USD loan to compare")
    return dataclasses.replace(
        loan,
        loan_id=f"{loan.loan_id}-btc",
        principal_btc=loan.principal_usd / price_usd,
        rate_per_year=rate_per_year,
    )


def _column_of(fixings: Fixings, day: dt.date) -> int:
    return int((np.datetime64(day, "D") - fixings.dates[0]).astype(int))


def miner_net_usd(loan: Loan, paths: LoanPaths, fixings: Fixings) -> FloatArray:
    """``X_T`` of the module docstring on every path."""
    machine = _machine(loan)
    n, n_days = paths.n_paths, len(fixings.dates)
    start = max(_column_of(fixings, loan.start), 0)
    end = min(_column_of(fixings, loan.maturity), n_days - 1)
    price_usd = np.broadcast_to(fixings.values["price_usd"], (n, n_days))
    hashprice_btc = np.broadcast_to(fixings.values["hashprice_btc_per_ph_day"], (n, n_days))
    sale = np.where(paths.liquidated, paths.liquidation_day + loan.liquidation_days, n_days)
    cols = np.arange(n_days)
    mining = (cols >= start) & (cols <= end) & (cols[None, :] < sale[:, None])
    mined_btc = hashprice_btc * (machine.hashrate_ths / TH_PER_PH)
    power_btc = machine.power_cost_usd_per_day / price_usd
    held_btc = loan.collateral.quantity * np.where(mining, mined_btc - power_btc, 0.0).sum(axis=1)
    s_end = price_usd[:, end]
    units = loan.collateral.quantity + paths.top_up_units
    if loan.principal_btc is None:
        debt = np.full(n, loan.claim_usd(loan.maturity))
    else:
        debt = loan.claim_btc(loan.maturity) * s_end
    kept = units * collateral_unit_values(loan, fixings, end) - debt
    sold = _sale_surplus(loan, paths, fixings, units)
    equity = np.where(paths.liquidated, sold, kept)
    return np.asarray(s_end * held_btc + equity - paths.top_up_usd, dtype=np.float64)


def _sale_surplus(loan: Loan, paths: LoanPaths, fixings: Fixings, units: FloatArray) -> FloatArray:
    """What the borrower got back from a liquidation: the sale's proceeds less the lender's
    recovery (0 where the loan was not liquidated)."""
    out = np.zeros(paths.n_paths)
    last = len(fixings.dates) - 1
    sale = np.minimum(paths.liquidation_day + loan.liquidation_days, last)
    for col in np.unique(sale[paths.liquidated]):
        here = paths.liquidated & (sale == col)
        value = collateral_unit_values(loan, fixings, int(col))
        share = sale_share(loan, fixings, int(col))
        proceeds = units * value * share
        surplus = np.maximum(proceeds - paths.lender_cash_usd[:, col], 0.0)
        out = np.where(here, surplus, out)
    return out


@dataclass(frozen=True)
class CurrencyLeg:
    """One way of borrowing: the loan's life and the miner's position at maturity."""

    loan: Loan
    summary: LoanSummary
    lender_pnl_usd: dict[str, float]
    miner_net_usd: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "loan_id": self.loan.loan_id,
            "currency": "BTC" if self.loan.borrows_btc else "USD",
            "principal_usd": self.loan.principal_usd,
            "principal_btc": self.loan.principal_btc,
            "rate_per_year": self.loan.rate_per_year,
            "probability_margin_call": self.summary.probability_margin_call,
            "probability_liquidation": self.summary.probability_liquidation,
            "expected_loss_usd": self.summary.expected_loss_usd,
            "loss_var_99_usd": self.summary.loss_var_99_usd,
            "expected_top_up_usd": self.summary.expected_top_up_usd,
            "lender_pnl_usd": self.lender_pnl_usd,
            "miner_net_usd": self.miner_net_usd,
        }


@dataclass(frozen=True)
class CurrencyComparison:
    asof: dt.date
    n_paths: int
    seed: int
    price_usd: float
    usd: CurrencyLeg
    btc: CurrencyLeg

    def to_dict(self) -> dict[str, Any]:
        return {
            "asof": self.asof.isoformat(),
            "n_paths": self.n_paths,
            "seed": self.seed,
            "btc_price_usd": self.price_usd,
            "usd_loan": self.usd.to_dict(),
            "btc_loan": self.btc.to_dict(),
        }


def _leg(loan: Loan, fixings: Fixings, seed: int) -> CurrencyLeg:
    paths = loan_life(loan, fixings)
    return CurrencyLeg(
        loan=loan,
        summary=summarize(loan, paths, seed=seed),
        lender_pnl_usd=_stats(paths.lender_pnl_usd),
        miner_net_usd=_stats(miner_net_usd(loan, paths, fixings)),
    )


def loan_fixings(
    loan: Loan, *, model: NetworkModel, state: NetworkState, n_paths: int, seed: int
) -> Fixings:
    """Scenarios from the as-of date to the loan's maturity plus the time to sell."""
    end = loan.maturity + dt.timedelta(days=loan.liquidation_days + loan.cure_days + 1)
    if end <= state.asof:
        raise RiskError("loan_state", loan=loan.loan_id, problem=f"matured before {state.asof}")
    return _scenario_fixings(
        model, state, (end - state.asof).days, n_paths=n_paths, seed=seed, workers=1
    )


def currency_comparison(
    loan: Loan,
    *,
    btc_rate_per_year: float | None = None,
    model: NetworkModel,
    state: NetworkState,
    n_paths: int,
    seed: int,
) -> CurrencyComparison:
    """The USD loan and its BTC twin (at ``btc_rate_per_year``, default the USD loan's rate)
    on the same scenarios."""
    _machine(loan)
    rate = loan.rate_per_year if btc_rate_per_year is None else btc_rate_per_year
    twin = btc_twin(loan, price_usd=state.price_usd, rate_per_year=rate)
    fixings = loan_fixings(loan, model=model, state=state, n_paths=n_paths, seed=seed)
    return CurrencyComparison(
        asof=state.asof,
        n_paths=n_paths,
        seed=seed,
        price_usd=state.price_usd,
        usd=_leg(loan, fixings, seed),
        btc=_leg(twin, fixings, seed),
    )


# ---- protection ------------------------------------------------------------------------------


def liquidation_hashprice(loan: Loan, *, day: dt.date) -> float:
    """``h*``: the hashprice at which the pledged machines are worth ``claim / LTV_liq`` on
    ``day`` (bisection; the value rises with hashprice)."""
    machine = _machine(loan)
    target = loan.claim_usd(day) / loan.liquidation_ltv / loan.collateral.quantity

    def worth(h: float) -> float:
        return float(margin_value_usd(machine, hashprice_usd_per_ph_day=np.array([h]), day=day)[0])

    low, high = 0.0, machine.reference_hashprice_usd_per_ph_day
    while worth(high) < target:
        high *= 2.0
        if high > 1e9:
            raise RiskError("risk_option", name="protection", problem="no hashprice is enough")
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if worth(mid) < target else (low, mid)
    return high


def protection_put(loan: Loan) -> EuropeanOption:
    """The lender's put, struck at the liquidation line at maturity (module docstring)."""
    if loan.borrows_btc:
        raise RiskError("risk_option", name="loan", problem="protection is for a USD loan")
    claim = loan.claim_usd(loan.maturity)
    q = loan.collateral.quantity
    kept = 1.0 - loan.liquidation_cost
    if loan.collateral.kind is CollateralKind.BTC:
        strike = claim / (loan.liquidation_ltv * q)
        underlying, quantity = Underlying.BTC_USD, q * kept
    else:
        machine = _machine(loan)
        strike = liquidation_hashprice(loan, day=loan.maturity)
        at_strike = np.array([strike])
        slope = margin_value_slope_ph_days(
            machine, hashprice_usd_per_ph_day=at_strike, day=loan.maturity
        )
        share = secondary_fraction(machine, at_strike) * kept
        underlying, quantity = Underlying.HASHPRICE_USD, q * float(share[0] * slope[0])
    return EuropeanOption(
        underlying=underlying,
        option_type=OptionType.PUT,
        strike=strike,
        expiry=loan.maturity,
        quantity=quantity,
        side=Side.BUY,
    )


@dataclass(frozen=True)
class ProtectionAnalysis:
    loan: Loan
    put: EuropeanOption
    premium_usd: float
    premium_std_error_usd: float
    engine: str
    n_paths: int
    seed: int
    expected_payoff_usd: float
    payoff_std_error_usd: float
    loss_usd: dict[str, float]
    uncovered_loss_usd: dict[str, float]
    net_loss_usd: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        put = self.put
        return {
            "loan_id": self.loan.loan_id,
            "put": {
                "underlying": put.underlying.value,
                "strike": put.strike,
                "expiry": put.expiry.isoformat(),
                "quantity": put.quantity,
            },
            "premium_usd": self.premium_usd,
            "premium_std_error_usd": self.premium_std_error_usd,
            "engine": self.engine,
            "n_paths": self.n_paths,
            "seed": self.seed,
            "expected_payoff_usd": self.expected_payoff_usd,
            "payoff_std_error_usd": self.payoff_std_error_usd,
            "loss_usd": self.loss_usd,
            "uncovered_loss_usd": self.uncovered_loss_usd,
            "net_loss_usd": self.net_loss_usd,
            "expected_loss_reduction_usd": self.loss_usd["mean"] - self.uncovered_loss_usd["mean"],
            "loss_var_99_reduction_usd": self.loss_usd["p99"] - self.uncovered_loss_usd["p99"],
        }


def _loss_stats(values: FloatArray) -> dict[str, float]:
    tail = np.sort(values)[int(np.floor(0.99 * len(values))) :]
    return {
        "mean": float(values.mean()),
        "p99": float(np.quantile(values, 0.99)),
        "es99": float(tail.mean()),
    }


def protection_analysis(
    loan: Loan,
    *,
    model: NetworkModel,
    state: NetworkState,
    market: Market,
    n_paths: int,
    seed: int,
) -> ProtectionAnalysis:
    """The lender's loss with and without the put on the loan's scenarios, and what it costs
    (priced by the engine the pricing table has for it: Black–Scholes for a BTC put)."""
    put = protection_put(loan)
    engine = "analytic" if put.underlying is Underlying.BTC_USD else "mc"
    quote = price(
        put,
        market=market,
        model=model,
        config=MonteCarloConfig(n_paths=n_paths, seed=seed),
        engine=engine,
    )
    fixings = loan_fixings(loan, model=model, state=state, n_paths=n_paths, seed=seed)
    loss = loan_life(loan, fixings).loss_usd
    payoff = put.cashflows(fixings).sum(axis=1)
    uncovered = np.maximum(loss - payoff, 0.0)
    net = loss - payoff + quote.value
    return ProtectionAnalysis(
        loan=loan,
        put=put,
        premium_usd=quote.value,
        premium_std_error_usd=quote.std_error,
        engine=quote.engine,
        n_paths=n_paths,
        seed=seed,
        expected_payoff_usd=float(payoff.mean()),
        payoff_std_error_usd=float(payoff.std() / np.sqrt(len(payoff))),
        loss_usd=_loss_stats(loss),
        uncovered_loss_usd=_loss_stats(np.asarray(uncovered, dtype=np.float64)),
        net_loss_usd=_loss_stats(np.asarray(net, dtype=np.float64)),
    )
