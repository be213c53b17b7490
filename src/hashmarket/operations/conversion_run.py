"""One call for the CLI and the API: a conversion site valued on the models calibrated as of a
date — the network model from the history, the GPU-hour model from the index fixings of the
quotes, their correlation from the overlap of the two."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from hashmarket.chain import NetworkHistory
from hashmarket.index import QuoteTable
from hashmarket.models import calibrate, correlation_from_history
from hashmarket.operations.conversion import ConversionSite
from hashmarket.operations.conversion_value import (
    ConversionValuation,
    joint_paths,
    value_conversion,
)
from hashmarket.pricing import ComputeSetup, compute_setup


@dataclass(frozen=True)
class ConversionReport:
    valuation: ConversionValuation
    gpu: ComputeSetup
    hashprice_usd_per_ph_day: float  # the as-of day's, where the paths start

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.valuation.to_dict(),
            "hashprice_usd_per_ph_day": self.hashprice_usd_per_ph_day,
            "gpu_index": self.gpu.to_dict(),
        }


def with_overrides(
    site: ConversionSite,
    *,
    fraction: float | None = None,
    paths: int | None = None,
    seed: int | None = None,
) -> ConversionSite:
    """The site with the command line's overrides (already checked by the caller)."""
    if fraction is not None:
        site = dataclasses.replace(
            site, conversion=dataclasses.replace(site.conversion, fraction=fraction)
        )
    valuation = site.valuation
    if paths is not None:
        valuation = dataclasses.replace(valuation, n_paths=paths)
    if seed is not None:
        valuation = dataclasses.replace(valuation, seed=seed)
    return dataclasses.replace(site, valuation=valuation)


def convert(
    site: ConversionSite,
    *,
    history: NetworkHistory,
    quotes: QuoteTable,
    asof: dt.date | None = None,
    quotes_name: str = "the bundled GPU-hour quotes",
) -> ConversionReport:
    """Calibrate as of ``asof`` (default: the history's last complete day), simulate the joint
    paths and value the conversion."""
    calibration = calibrate(history, asof=asof)
    resolved = calibration.state.asof
    gpu = compute_setup(
        quotes,
        gpu_model=site.ai.gpu_model,
        term=site.ai.index_term,
        asof=resolved,
        source=quotes_name,
    )
    correlation = correlation_from_history(
        history, quotes, gpu_model=site.ai.gpu_model, term=site.ai.index_term, asof=resolved
    )
    paths = joint_paths(
        site,
        network_model=calibration.model,
        state=calibration.state,
        gpu_model=gpu.model,
        gpu_spot_usd_per_gpu_hour=gpu.market.gpu_price_usd_per_gpu_hour,
        correlation=correlation,
    )
    return ConversionReport(
        valuation=value_conversion(site, paths),
        gpu=gpu,
        hashprice_usd_per_ph_day=float(paths.hashprice_usd_per_ph_day[0, 0]),
    )
