"""The JSON/YAML form of a netting set with one counterparty (``hashmarket cva``)::

    {"name": "hedges with Dealer A",
     "counterparty": {"name": "Dealer A", "recovery": 0.4,
                      "cds_spread_bps": 250},            # or "annual_default_probability"
     "collateral": {"threshold_usd": 100000, "minimum_transfer_usd": 25000, "mpor_days": 10},
     "positions": [... portfolio positions of kind "instrument" ...]}

``collateral`` is optional (no agreement: no margin). Errors name the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashmarket.errors import Location, RiskError
from hashmarket.risk.counterparty import CollateralAgreement, Counterparty
from hashmarket.risk.inputs import Reader
from hashmarket.risk.portfolio import Portfolio, PositionKind
from hashmarket.risk.specs import parse_portfolio
from hashmarket.specfile import read_document


@dataclass(frozen=True)
class NettingSetSpec:
    name: str
    netting_set: Portfolio
    counterparty: Counterparty
    collateral: CollateralAgreement | None


def _built(reader: Reader, build: Any) -> Any:
    """``build()``, with a refusal of a field named by its path in the document."""
    try:
        return build()
    except RiskError as exc:
        if exc.location is not None:
            raise
        raise reader.fail(
            str(exc.fields.get("field", "?")), str(exc.fields.get("problem"))
        ) from None


def _counterparty(reader: Reader) -> Counterparty:
    reader.only("name", "recovery", "cds_spread_bps", "annual_default_probability")
    name = reader.text("name")
    recovery = reader.number("recovery", 0.4)
    if reader.has("cds_spread_bps") == reader.has("annual_default_probability"):
        raise reader.fail(
            "cds_spread_bps", "give exactly one of 'cds_spread_bps' or 'annual_default_probability'"
        )
    if reader.has("cds_spread_bps"):
        spread = reader.number("cds_spread_bps", minimum=0.0)
        return _built(  # type: ignore[no-any-return]
            reader, lambda: Counterparty.from_spread(name, spread_bps=spread, recovery=recovery)
        )
    pd = reader.number("annual_default_probability", minimum=0.0)
    return _built(  # type: ignore[no-any-return]
        reader, lambda: Counterparty.from_annual_pd(name, annual_pd=pd, recovery=recovery)
    )


def _collateral(reader: Reader) -> CollateralAgreement:
    reader.only("threshold_usd", "minimum_transfer_usd", "mpor_days")
    threshold = reader.number("threshold_usd", 0.0)
    mta = reader.number("minimum_transfer_usd", 0.0)
    mpor = reader.integer("mpor_days", 10, minimum=0)
    return _built(  # type: ignore[no-any-return]
        reader, lambda: CollateralAgreement(threshold, mta, mpor)
    )


def parse_netting_set(
    document: Any, *, location: Location | None = None, base_dir: Path | None = None
) -> NettingSetSpec:
    reader = Reader.of(document, what="netting set", location=location)
    reader.only("name", "description", "counterparty", "collateral", "positions")
    name = reader.text("name", "netting set")
    counterparty = _counterparty(reader.mapping("counterparty"))
    collateral = _collateral(reader.mapping("collateral")) if reader.has("collateral") else None
    netting_set = parse_portfolio(
        {"name": name, "positions": reader.raw("positions")},
        location=location,
        base_dir=base_dir,
    )
    for i, position in enumerate(netting_set.positions):
        if position.kind is not PositionKind.INSTRUMENT:
            raise reader.fail(
                f"positions[{i}].kind",
                f"{position.kind.value!r}: only contracts (kind 'instrument') have a counterparty",
            )
    return NettingSetSpec(name, netting_set, counterparty, collateral)


def load_netting_set(path: Path) -> NettingSetSpec:
    document, location = read_document(path, what="netting set", error=RiskError)
    return parse_netting_set(document, location=location, base_dir=path.parent)
