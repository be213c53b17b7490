"""A portfolio: instrument positions, spot BTC, hashrate-token holdings and loans.

Every position is valued in USD. An instrument position holds ``quantity`` units of an
instrument from ``hashmarket.instruments`` (its cash flows scale with it; a negative quantity
is the other side). A token holding is ``quantity`` tokens of a ``HashrateToken``. A loan
position is a :class:`~hashmarket.instruments.loans.Loan` seen by its lender (``quantity`` 1) or
its borrower (``quantity`` −1). Spot BTC is ``quantity`` BTC (negative: short).

``specs.parse_portfolio`` / ``specs.load_portfolio`` read the JSON/YAML form.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from hashmarket.errors import RiskError
from hashmarket.instruments import Instrument, Loan, SettlementCurrency, to_spec


class PositionKind(enum.StrEnum):
    INSTRUMENT = "instrument"
    SPOT_BTC = "spot_btc"
    TOKEN = "token"
    LOAN = "loan"


@dataclass(frozen=True)
class Position:
    """One line of a portfolio. ``instrument`` is ``None`` for spot BTC only."""

    name: str
    kind: PositionKind
    quantity: float
    instrument: Instrument | Loan | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PositionKind(self.kind))
        if not isinstance(self.name, str) or not self.name.strip():
            raise RiskError("risk_field", field="name", problem="a position needs a name")
        if not (math.isfinite(self.quantity) and self.quantity != 0):
            raise RiskError(
                "risk_field",
                field=f"{self.name}.quantity",
                problem=f"{self.quantity} must be a non-zero number",
            )
        if (self.kind is PositionKind.SPOT_BTC) != (self.instrument is None):
            raise RiskError(
                "risk_field",
                field=f"{self.name}.instrument",
                problem="spot BTC has no instrument; every other position has one",
            )

    @property
    def currency(self) -> SettlementCurrency:
        if self.instrument is None:
            return SettlementCurrency.USD  # spot BTC is valued at its USD price
        return self.instrument.currency

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (the instrument's spec, or the loan's main terms)."""
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind.value,
            "quantity": self.quantity,
        }
        if isinstance(self.instrument, Loan):
            loan = self.instrument
            out["loan"] = {
                "loan_id": loan.loan_id,
                "principal_usd": loan.principal_usd,
                "collateral": f"{loan.collateral.quantity:g} {loan.collateral.unit}",
                "maturity": loan.maturity.isoformat(),
            }
        elif self.instrument is not None:
            out["instrument"] = to_spec(self.instrument)
        return out


@dataclass(frozen=True)
class Portfolio:
    """Named positions; names are unique so every report line can be traced."""

    name: str
    positions: tuple[Position, ...]

    def __post_init__(self) -> None:
        if not self.positions:
            raise RiskError("risk_field", field="positions", problem="a portfolio needs positions")
        seen: set[str] = set()
        for position in self.positions:
            if position.name in seen:
                raise RiskError(
                    "risk_field",
                    field="positions",
                    problem=f"two positions are named {position.name!r}",
                )
            seen.add(position.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.positions)

    def __len__(self) -> int:
        return len(self.positions)
