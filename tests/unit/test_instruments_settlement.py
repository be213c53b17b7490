"""Settlement fixings: the realized path from the history or from published fixings goes
through the same ``cashflows`` as the simulated paths."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache

import numpy as np
import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.index.fixings import fixings as published_fixings
from hashmarket.index.hashprice import hashprice_table
from hashmarket.instruments import Fixings, HashpriceForward, HashrateToken

JANUARY = (dt.date(2023, 1, 1), dt.date(2023, 1, 31))


@cache
def history() -> NetworkHistory:
    return NetworkHistory.load()


def test_forward_settles_on_the_history_exactly_as_the_index_defines_it() -> None:
    start, end = JANUARY
    f = Fixings.from_history(history(), start=start, end=end)
    assert f.n_paths == 1 and f.first_date == start and f.last_date == end
    fwd = HashpriceForward(notional_phs=10, fixed_price_per_ph_day=60.0, start=start, end=end)
    table = hashprice_table(history().between(start, end))
    expected = (table["hashprice_usd_per_ph_day"].to_numpy() - 60.0) * 10
    np.testing.assert_allclose(fwd.cashflows(f)[0], expected)


def test_forward_settles_on_published_fixings_at_their_tick() -> None:
    start, end = JANUARY
    window = history().between(start, end)
    usd = published_fixings(window, currency="usd")
    btc = published_fixings(window, currency="btc")
    f = Fixings.from_published(usd=usd, btc=btc)
    fwd = HashpriceForward(notional_phs=10, fixed_price_per_ph_day=60.0, start=start, end=end)
    expected = np.array([(float(x.value) - 60.0) * 10 for x in usd])
    np.testing.assert_allclose(fwd.cashflows(f)[0], expected)
    # The inputs recorded in the fixings give the other fields.
    np.testing.assert_allclose(f.values["price_usd"][0], window.frame["price_usd"].to_numpy())
    token = HashrateToken(
        ths_per_token=Decimal(100),
        start=start,
        end=end,
        efficiency_w_per_th=Decimal(30),
        power_price_usd_per_kwh=Decimal("0.05"),
    )
    assert token.cashflows(f).shape == (1, 31)


def test_a_missing_published_day_refuses_to_settle() -> None:
    start, end = JANUARY
    usd = published_fixings(history().between(start, end), currency="usd")
    del usd[10]
    f = Fixings.from_published(usd=usd)
    fwd = HashpriceForward(notional_phs=1, fixed_price_per_ph_day=1.0, start=start, end=end)
    with pytest.raises(Exception, match="2023-01-11"):
        fwd.cashflows(f)


def test_realized_then_simulated_fixings_concatenate_with_broadcast() -> None:
    past = Fixings.from_arrays(
        [dt.date(2026, 1, 30), dt.date(2026, 1, 31)], price_usd=np.array([[1.0, 2.0]])
    )
    future = Fixings.from_arrays(
        [dt.date(2026, 1, 31), dt.date(2026, 2, 1)], price_usd=np.array([[9.0, 3.0], [9.0, 4.0]])
    )
    joined = past.between(past.first_date, dt.date(2026, 1, 30)).concat(future)
    np.testing.assert_array_equal(joined.values["price_usd"], [[1.0, 9.0, 3.0], [1.0, 9.0, 4.0]])
    with pytest.raises(ValueError, match="consecutive"):
        Fixings.from_arrays([dt.date(2026, 1, 1), dt.date(2026, 1, 3)], price_usd=[1.0, 2.0])
    with pytest.raises(ValueError, match="unknown fixing field"):
        Fixings.from_arrays([dt.date(2026, 1, 1)], price_eur=[1.0])
