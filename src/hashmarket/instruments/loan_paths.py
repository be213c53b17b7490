"""What a loan's life on paths produces (:func:`hashmarket.instruments.loans.loan_life`): the
events of each path and the arrays over all of them."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LoanEvent:
    """Something that happened to a loan on one path: ``units`` of collateral (top-up, sale),
    ``usd`` of cash (disbursement, delivery, top-up in cash, recovery, repayment, surplus)."""

    day: dt.date
    kind: str
    units: float = 0.0
    usd: float = 0.0
    ltv: float = math.nan
    # A BTC loan's cash amounts in BTC (what its ledger books), beside their USD value.
    btc: float = 0.0


@dataclass(frozen=True)
class LoanPaths:
    """A loan's life on every path of some fixings (arrays ``[paths]`` or ``[paths, days]``)."""

    dates: npt.NDArray[np.datetime64]
    ltv: FloatArray
    lender_cash_usd: FloatArray
    margin_called: npt.NDArray[np.bool_]
    margin_calls: npt.NDArray[np.int64]
    liquidated: npt.NDArray[np.bool_]
    liquidation_day: npt.NDArray[np.int64]
    loss_usd: FloatArray
    top_up_units: FloatArray
    top_up_usd: FloatArray
    events: tuple[tuple[LoanEvent, ...], ...] | None = None

    @property
    def n_paths(self) -> int:
        return len(self.loss_usd)

    @property
    def lender_pnl_usd(self) -> FloatArray:
        """Undiscounted sum of the lender's cash flows (with the disbursement, if covered)."""
        return np.asarray(self.lender_cash_usd.sum(axis=1), dtype=np.float64)


class EventLog(Protocol):
    """Records an event on the paths in ``mask`` (a no-op unless events are recorded)."""

    def __call__(
        self, mask: npt.NDArray[np.bool_], col: int, kind: str, **amounts: FloatArray
    ) -> None: ...


def sale_in_btc(
    claim_btc: float | None,
    price_usd: FloatArray | None,
    *,
    recovery: FloatArray,
    proceeds: FloatArray,
) -> dict[str, dict[str, FloatArray]]:
    """A BTC loan's sale in BTC at the day's close: the lender's recovery (its whole claim
    when the proceeds cover it) and the borrower's surplus; nothing for a USD loan
    (``claim_btc`` None). Keys: the event kinds, values: the amounts to log."""
    if claim_btc is None or price_usd is None:
        return {"sale": {}, "surplus": {}}
    claim = np.full(len(recovery), claim_btc)
    proceeds_btc = proceeds / price_usd
    recovery_btc = np.where(recovery < proceeds, claim, np.minimum(claim, proceeds_btc))
    return {"sale": {"btc": recovery_btc}, "surplus": {"btc": proceeds_btc - recovery_btc}}
