"""Pricing: closed forms, discounting, the Monte Carlo engines, bumped Greeks, the hashprice
forward curve, and the table of engines (``registry``) that picks one for an instrument and
checks the model and market it is given."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.pricing.analytic import (
        Black76Greeks,
        BlackScholesGreeks,
        black76_greeks,
        black76_price,
        black_scholes_greeks,
        black_scholes_price,
        merton_price,
    )
    from hashmarket.pricing.compute import ComputeMarket
    from hashmarket.pricing.curves import CurvePoint, HashpriceCurve, hashprice_curve
    from hashmarket.pricing.discount import DiscountCurve, FlatRate, ZeroCurve, year_fraction
    from hashmarket.pricing.market import Market
    from hashmarket.pricing.montecarlo import monte_carlo_price
    from hashmarket.pricing.registry import ENGINES, Engine, engine_for, engines_for, price
    from hashmarket.pricing.result import MonteCarloConfig, PricingResult

__all__ = [
    "ENGINES",
    "Black76Greeks",
    "BlackScholesGreeks",
    "ComputeMarket",
    "CurvePoint",
    "DiscountCurve",
    "Engine",
    "FlatRate",
    "HashpriceCurve",
    "Market",
    "MonteCarloConfig",
    "PricingResult",
    "ZeroCurve",
    "black76_greeks",
    "black76_price",
    "black_scholes_greeks",
    "black_scholes_price",
    "engine_for",
    "engines_for",
    "hashprice_curve",
    "merton_price",
    "monte_carlo_price",
    "price",
    "year_fraction",
]

__getattr__, __dir__ = lazy_exports(globals())
