"""Values on scenario paths simulated elsewhere: what contracts pay, period by period, on the
very paths a position's own cash is simulated on, and what they are worth there.

A miner's hedge is quoted on the paths its revenue is simulated on (``risk/hedging.py``), so
the hedge and the revenue can be added path by path. Those paths are the pricing measure, at
zero rates over the months the hedge covers; so, on given fixings:

* :func:`cashflows_by_period` — each contract's own ``cashflows(fixings)``, the payoff that
  pricing and settlement use, summed by period (a calendar month, say) ``[paths, periods]``;
* :func:`mean_value` — its value: the paths' mean of what it pays in the periods, undiscounted;
* :func:`par_price` — the fixed price at which a contract paying the fixing's average over a
  window less that price (× a per-path quantity) is worth nothing on the paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from hashmarket.instruments import Fixings, Instrument

FloatArray = npt.NDArray[np.float64]
Period = tuple[dt.date, dt.date]


def cashflows_by_period(
    instruments: Sequence[Instrument], fixings: Fixings, periods: Sequence[Period]
) -> FloatArray:
    """The instruments' cash flows on ``fixings``, summed over each period (first and last day
    included) and over the instruments ``[paths, periods]``; a flow outside every period counts
    nowhere."""
    out = np.zeros((fixings.n_paths, len(periods)))
    for instrument in instruments:
        first, last = instrument.fixing_window(asof=fixings.first_date, height=0)
        window = fixings.between(first, last)
        amounts = np.broadcast_to(instrument.cashflows(window), (fixings.n_paths, window.n_periods))
        for m, (lo, hi) in enumerate(periods):
            if hi < window.first_date or lo > window.last_date:
                continue
            a = window.index_of(max(lo, window.first_date))
            b = window.index_of(min(hi, window.last_date))
            out[:, m] += amounts[:, a : b + 1].sum(axis=1)
    return out


def mean_value(instrument: Instrument, fixings: Fixings, periods: Sequence[Period]) -> float:
    """The value of ``instrument`` on the paths of ``fixings``: the mean over paths of what it
    pays in ``periods``, undiscounted (zero rates, the paths as the pricing measure)."""
    return float(cashflows_by_period([instrument], fixings, periods).sum(axis=1).mean())


def par_price(
    fixings: Fixings,
    field: str,
    first: dt.date,
    last: dt.date,
    *,
    quantity: FloatArray | None = None,
) -> float:
    """The fixed price ``K`` at which ``(average of field over first … last − K) × quantity``
    is worth nothing on the paths: ``E[average × quantity] / E[quantity]``. Without a quantity
    (a fixed notional on every day, as a forward's) it is the mean fixing over paths and days.
    """
    values = fixings.values[field]
    lo, hi = fixings.index_of(first), fixings.index_of(last)
    window = values[:, lo : hi + 1]
    if quantity is None:
        return float(window.mean())
    average = window.mean(axis=1)
    return float((average * quantity).mean() / quantity.mean())
