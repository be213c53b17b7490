"""The JSON/YAML form of pledged mining machines (``collateral.machine`` of a loan)::

    "collateral": {"kind": "machines", "quantity": 5000,
                   "machine": {"model": "Antminer S21", "power_usd_per_kwh": 0.05,
                               "end_of_life": "2029-12-31",
                               "reference_hashprice_usd_per_ph_day": 40,
                               "difficulty_growth_per_year": 0.3,
                               "discount_rate_per_year": 0.15}}

``model`` names a machine of the bundled catalogue (``asic_models.csv``), which gives its
``hashrate_ths`` and ``efficiency_j_per_th``; either may be given instead (a machine not in the
catalogue gives both).
"""

from __future__ import annotations

from typing import Any

from hashmarket.errors import RiskError, UsageError
from hashmarket.instruments import MachineCollateral
from hashmarket.operations import load_catalogue
from hashmarket.risk.inputs import Reader

MACHINE_FIELDS = (
    "model",
    "hashrate_ths",
    "efficiency_j_per_th",
    "power_usd_per_kwh",
    "end_of_life",
    "reference_hashprice_usd_per_ph_day",
    "difficulty_growth_per_year",
    "discount_rate_per_year",
    "secondary_fraction",
    "secondary_floor",
)


def parse_machine(reader: Reader) -> MachineCollateral:
    reader.only(*MACHINE_FIELDS)
    model = reader.text("model", "custom machine")
    known: dict[str, float] = {}
    if not (reader.has("hashrate_ths") and reader.has("efficiency_j_per_th")):
        try:
            found = load_catalogue().get(model)
        except UsageError as exc:
            raise reader.fail("model", exc.problem) from None
        known = {
            "hashrate_ths": found.hashrate_ths,
            "efficiency_j_per_th": found.efficiency_j_per_th,
        }
    kwargs: dict[str, Any] = {
        "model": model,
        "end_of_life": reader.date("end_of_life"),
        "power_usd_per_kwh": reader.number("power_usd_per_kwh", minimum=0.0),
        "reference_hashprice_usd_per_ph_day": reader.number(
            "reference_hashprice_usd_per_ph_day", positive=True
        ),
    }
    for name in ("hashrate_ths", "efficiency_j_per_th"):
        kwargs[name] = reader.number(name, positive=True) if reader.has(name) else known[name]
    for name in (
        "difficulty_growth_per_year",
        "discount_rate_per_year",
        "secondary_fraction",
        "secondary_floor",
    ):
        if reader.has(name):
            kwargs[name] = reader.number(name, minimum=0.0)
    try:
        return MachineCollateral(**kwargs)
    except RiskError as exc:
        name = str(exc.fields.get("field", "machine")).rsplit(".", 1)[-1]
        raise reader.fail(name, str(exc.fields.get("problem", exc.problem))) from None
