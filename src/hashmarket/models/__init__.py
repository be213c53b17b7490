"""Stochastic models: BTC price processes, the Bitcoin network model, seeded chunked
scenarios and their calibration from the network history."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.models.backend import (
        LOCAL,
        DaskBackend,
        backend_for,
        chunk_spans,
        dask_backend,
        parse_scheduler,
        simulate_span,
    )
    from hashmarket.models.calibrate import Calibration, CalibrationReport, calibrate, default_asof
    from hashmarket.models.compute_factor import (
        MIN_FACTOR_OBSERVATIONS,
        FactorCorrelation,
        correlation_from_history,
        factor_correlation,
    )
    from hashmarket.models.estimators import ewma_vol_per_year
    from hashmarket.models.gpu import MIN_OBSERVATIONS, GpuPriceModel, calibrate_gpu_fixings
    from hashmarket.models.network import (
        FIELDS,
        BlockArrivals,
        FeeParams,
        HashrateParams,
        NetworkModel,
        NetworkState,
        simulate_network,
    )
    from hashmarket.models.power import (
        MIN_POWER_OBSERVATIONS,
        PowerCalibration,
        PowerPriceModel,
        RegionalModel,
        calibrate_power,
        hashprice_shocks,
    )
    from hashmarket.models.price import GBM, MertonJumpDiffusion, PriceModel
    from hashmarket.models.qmc import SOBOL_MAX_DIMENSION
    from hashmarket.models.reduced import NETWORK_FACTORS, PathChunk, ReducedPaths, Segments
    from hashmarket.models.scenarios import (
        DEFAULT_STREAM_PATHS,
        ScenarioConfig,
        Scenarios,
        ScenarioSet,
        monthly_means,
        simulate,
    )
    from hashmarket.models.streams import antithetic_pair_means, chunk_blocks

__all__ = [
    "DEFAULT_STREAM_PATHS",
    "FIELDS",
    "GBM",
    "LOCAL",
    "MIN_FACTOR_OBSERVATIONS",
    "MIN_OBSERVATIONS",
    "MIN_POWER_OBSERVATIONS",
    "NETWORK_FACTORS",
    "SOBOL_MAX_DIMENSION",
    "BlockArrivals",
    "Calibration",
    "CalibrationReport",
    "DaskBackend",
    "FactorCorrelation",
    "FeeParams",
    "GpuPriceModel",
    "HashrateParams",
    "MertonJumpDiffusion",
    "NetworkModel",
    "NetworkState",
    "PathChunk",
    "PowerCalibration",
    "PowerPriceModel",
    "PriceModel",
    "ReducedPaths",
    "RegionalModel",
    "ScenarioConfig",
    "ScenarioSet",
    "Scenarios",
    "Segments",
    "antithetic_pair_means",
    "backend_for",
    "calibrate",
    "calibrate_gpu_fixings",
    "calibrate_power",
    "chunk_blocks",
    "chunk_spans",
    "correlation_from_history",
    "dask_backend",
    "default_asof",
    "ewma_vol_per_year",
    "factor_correlation",
    "hashprice_shocks",
    "monthly_means",
    "parse_scheduler",
    "simulate",
    "simulate_network",
    "simulate_span",
]

__getattr__, __dir__ = lazy_exports(globals())
