"""Reading a conversion site (JSON), strictly: every refusal names the file and the field.
The format is in ``docs/conversion.md``; ``examples/conversion/site.json`` is an example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hashmarket.errors import DataError
from hashmarket.operations.conversion import (
    AiTerms,
    ConversionSite,
    ConversionTerms,
    LeaseTerms,
    MiningTerms,
    ValuationTerms,
)
from hashmarket.operations.dispatch_inputs import _Reader
from hashmarket.specfile import field_path, read_document

SITE_FIELDS = {
    "name",
    "description",
    "capacity_mw",
    "power_price_usd_per_mwh",
    "mining",
    "ai",
    "conversion",
    "valuation",
}
MINING_FIELDS = {"efficiency_j_per_th", "pool_fee_fraction", "other_cost_usd_per_mw_day"}
AI_FIELDS = {"gpu_model", "index_term", "gpus_per_mw", "utilisation", "opex_usd_per_mw_year"}
AI_FIELDS_ALL = AI_FIELDS | {"contract"}
CONTRACT_FIELDS = {"type", "price_usd_per_gpu_hour", "term_years"}
CONVERSION_FIELDS = {
    "fraction",
    "capex_usd_per_mw",
    "build_days",
    "development_cost_usd_per_mw",
    "tenant_probability",
}
VALUATION_FIELDS = {"life_years", "discount_rate_per_year", "decision_years", "paths", "seed"}
MAX_PATHS = 50_000
MAX_YEARS = 30


def parse_conversion_site(data: Any, *, path: str = "<site>") -> ConversionSite:
    """A :class:`ConversionSite` from parsed JSON; refuses unknown, missing or bad fields."""
    r = _Reader(path)
    top = r.obj(data, "", SITE_FIELDS)
    for key in ("mining", "ai", "conversion", "valuation"):
        if key not in top:
            raise r.fail(key, "missing")
    if "description" in top:
        r.text(top, "description", "")
    return ConversionSite(
        name=r.text(top, "name", ""),
        capacity_mw=r.number(top, "capacity_mw", "", strict=True),
        power_price_usd_per_mwh=r.number(top, "power_price_usd_per_mwh", "", minimum=None),
        mining=_mining(r, top["mining"]),
        ai=_ai(r, top["ai"]),
        conversion=_conversion(r, top["conversion"]),
        valuation=_valuation(r, top["valuation"]),
    )


def _mining(r: _Reader, raw: Any) -> MiningTerms:
    data = r.obj(raw, "mining", MINING_FIELDS)
    return MiningTerms(
        efficiency_j_per_th=r.number(data, "efficiency_j_per_th", "mining", strict=True),
        pool_fee_fraction=r.number(
            data, "pool_fee_fraction", "mining", default=0.0, maximum=1.0, maximum_inclusive=False
        ),
        other_cost_usd_per_mw_day=r.number(
            data, "other_cost_usd_per_mw_day", "mining", default=0.0
        ),
    )


def _ai(r: _Reader, raw: Any) -> AiTerms:
    data = r.obj(raw, "ai", AI_FIELDS_ALL)
    contract = r.obj(data.get("contract", {"type": "market"}), "ai.contract", CONTRACT_FIELDS)
    kind = r.text(contract, "type", "ai.contract")
    lease = None
    if kind == "lease":
        lease = LeaseTerms(
            price_usd_per_gpu_hour=r.number(contract, "price_usd_per_gpu_hour", "ai.contract"),
            term_years=r.number(
                contract, "term_years", "ai.contract", strict=True, maximum=MAX_YEARS
            ),
        )
    elif kind != "market":
        raise r.fail("ai.contract.type", f"must be 'lease' or 'market', got {kind!r}")
    elif set(contract) - {"type"}:
        extra = sorted(set(contract) - {"type"})[0]
        raise r.fail(field_path("ai.contract", extra), "only a lease has a price and a term")
    return AiTerms(
        gpus_per_mw=r.number(data, "gpus_per_mw", "ai", strict=True),
        utilisation=r.number(data, "utilisation", "ai", strict=True, maximum=1.0),
        opex_usd_per_mw_year=r.number(data, "opex_usd_per_mw_year", "ai", default=0.0),
        gpu_model=r.text(data, "gpu_model", "ai", default="H100"),
        index_term=r.text(data, "index_term", "ai", default="on-demand"),
        lease=lease,
    )


def _conversion(r: _Reader, raw: Any) -> ConversionTerms:
    data = r.obj(raw, "conversion", CONVERSION_FIELDS)
    probability = None
    if "tenant_probability" in data:
        probability = r.number(data, "tenant_probability", "conversion", maximum=1.0)
    return ConversionTerms(
        fraction=r.number(data, "fraction", "conversion", strict=True, maximum=1.0),
        capex_usd_per_mw=r.number(data, "capex_usd_per_mw", "conversion"),
        build_days=r.integer(data, "build_days", "conversion"),
        development_cost_usd_per_mw=r.number(
            data, "development_cost_usd_per_mw", "conversion", default=0.0
        ),
        tenant_probability=probability,
    )


def _valuation(r: _Reader, raw: Any) -> ValuationTerms:
    data = r.obj(raw, "valuation", VALUATION_FIELDS)
    life = r.integer(data, "life_years", "valuation", minimum=1)
    decision = r.integer(data, "decision_years", "valuation", default=0)
    if life + decision > MAX_YEARS:
        raise r.fail(
            "valuation.life_years",
            f"life_years + decision_years must be <= {MAX_YEARS}, got {life + decision}",
        )
    paths = r.integer(data, "paths", "valuation", default=2000, minimum=10)
    if paths > MAX_PATHS:
        raise r.fail("valuation.paths", f"must be <= {MAX_PATHS}, got {paths}")
    return ValuationTerms(
        life_years=life,
        discount_rate_per_year=r.number(
            data, "discount_rate_per_year", "valuation", minimum=-0.5, maximum=1.0
        ),
        decision_years=decision,
        n_paths=paths,
        seed=r.integer(data, "seed", "valuation", default=0),
    )


def read_conversion_site(path: Path | str) -> ConversionSite:
    """The conversion site described in the JSON file ``path``."""
    data, location = read_document(path, what="conversion site", error=DataError, yaml_ok=False)
    return parse_conversion_site(data, path=location.file)
