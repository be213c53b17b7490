"""Values on given paths: cash flows summed by period, the paths' mean value, and par prices
at which a forward or a swap on production is worth nothing on those paths."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from hashmarket.instruments.fixings import Fixings
from hashmarket.instruments.forwards import BtcPriceSwap, HashpriceForward
from hashmarket.instruments.terms import Side, month_periods
from hashmarket.pricing.onpaths import cashflows_by_period, mean_value, par_price

FIRST = dt.date(2025, 7, 1)
LAST = dt.date(2025, 8, 31)  # two calendar months, 31 days each
MONTHS = month_periods(FIRST, LAST)
SRC = Path(__file__).resolve().parents[2] / "src" / "hashmarket"


def fixings(n_paths: int = 400, seed: int = 7) -> Fixings:
    rng = np.random.default_rng(seed)
    days = (LAST - FIRST).days + 1
    dates = [FIRST + dt.timedelta(days=i) for i in range(days)]
    return Fixings.from_arrays(
        dates,
        hashprice_usd_per_ph_day=rng.uniform(40.0, 60.0, (n_paths, days)),
        hashprice_btc_per_ph_day=rng.uniform(4e-4, 6e-4, (n_paths, days)),
        price_usd=rng.uniform(80_000.0, 120_000.0, (n_paths, days)),
    )


def test_a_forward_pays_its_days_in_its_month_and_nothing_elsewhere() -> None:
    fx = fixings(n_paths=3)
    forward = HashpriceForward(
        notional_phs=2.0, fixed_price_per_ph_day=50.0, start=FIRST, end=dt.date(2025, 7, 31)
    )
    by_month = cashflows_by_period([forward], fx, MONTHS)
    july = fx.values["hashprice_usd_per_ph_day"][:, :31]
    np.testing.assert_allclose(by_month[:, 0], 2.0 * (july - 50.0).sum(axis=1), rtol=1e-12)
    assert (by_month[:, 1] == 0.0).all()
    # Two contracts add up; a period outside the contract counts nothing.
    both = cashflows_by_period([forward, forward], fx, MONTHS)
    np.testing.assert_allclose(both, 2 * by_month, rtol=1e-12)


def test_a_forward_at_par_is_worth_nothing_and_its_value_is_linear_in_the_price() -> None:
    fx = fixings()
    par = par_price(fx, "hashprice_usd_per_ph_day", *MONTHS[0])
    assert par == pytest.approx(fx.values["hashprice_usd_per_ph_day"][:, :31].mean(), rel=1e-15)

    def forward(price: float) -> HashpriceForward:
        return HashpriceForward(
            notional_phs=3.0, fixed_price_per_ph_day=price, start=MONTHS[0][0], end=MONTHS[0][1]
        )

    assert mean_value(forward(par), fx, MONTHS) == pytest.approx(0.0, abs=1e-9)
    # Each dollar under par is worth notional × days to the buyer.
    assert mean_value(forward(par - 1.0), fx, MONTHS) == pytest.approx(3.0 * 31, rel=1e-9)


def test_a_swap_on_production_at_its_weighted_par_is_worth_nothing() -> None:
    fx = fixings()
    first, last = MONTHS[1]
    produced = 5.0 * fx.values["hashprice_btc_per_ph_day"][:, 31:].sum(axis=1)
    par = par_price(fx, "price_usd", first, last, quantity=produced)
    plain = par_price(fx, "price_usd", first, last)
    # Weighted by each path's production, the par differs from the plain mean price.
    assert par != plain
    swap = BtcPriceSwap(
        fixed_price_usd=par, start=first, end=last, production_phs=5.0, side=Side.SELL
    )
    assert mean_value(swap, fx, MONTHS) == pytest.approx(0.0, abs=1e-6)
    off_par = BtcPriceSwap(
        fixed_price_usd=par + 100.0, start=first, end=last, production_phs=5.0, side=Side.SELL
    )
    # The seller receives 100 USD more for every BTC produced.
    assert mean_value(off_par, fx, MONTHS) == pytest.approx(100.0 * produced.mean(), rel=1e-9)


def test_hedging_gets_its_values_from_pricing() -> None:
    """The hedge modules quote and plan; what a contract pays or is worth comes from pricing."""
    for module in ("risk/hedging.py", "risk/hedge_plan.py"):
        text = (SRC / module).read_text(encoding="utf-8")
        assert ".cashflows(" not in text, module
    hedging = (SRC / "risk/hedging.py").read_text(encoding="utf-8")
    imported = {
        alias.name
        for node in ast.walk(ast.parse(hedging))
        if isinstance(node, ast.ImportFrom) and node.module == "hashmarket.pricing"
        for alias in node.names
    }
    assert {"mean_value", "par_price"} <= imported, imported
