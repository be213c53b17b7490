"""Stochastic models: BTC price processes, the Bitcoin network model, seeded chunked
scenarios and their calibration from the network history."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.models.calibrate import Calibration, CalibrationReport, calibrate, default_asof
    from hashmarket.models.network import (
        FIELDS,
        BlockArrivals,
        FeeParams,
        HashrateParams,
        NetworkModel,
        NetworkState,
        simulate_network,
    )
    from hashmarket.models.price import GBM, MertonJumpDiffusion, PriceModel
    from hashmarket.models.scenarios import (
        ScenarioConfig,
        Scenarios,
        ScenarioSet,
        monthly_means,
        simulate,
    )

__all__ = [
    "FIELDS",
    "GBM",
    "BlockArrivals",
    "Calibration",
    "CalibrationReport",
    "FeeParams",
    "HashrateParams",
    "MertonJumpDiffusion",
    "NetworkModel",
    "NetworkState",
    "PriceModel",
    "ScenarioConfig",
    "ScenarioSet",
    "Scenarios",
    "calibrate",
    "default_asof",
    "monthly_means",
    "simulate",
    "simulate_network",
]

__getattr__, __dir__ = lazy_exports(globals())
