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
    from hashmarket.pricing.capital import (
        StoppingResult,
        discount_factors,
        irr,
        npv,
        optimal_stopping,
    )
    from hashmarket.pricing.compute import ComputeMarket
    from hashmarket.pricing.curves import CurvePoint, HashpriceCurve, hashprice_curve
    from hashmarket.pricing.discount import DiscountCurve, FlatRate, ZeroCurve, year_fraction
    from hashmarket.pricing.fund import (
        Basket,
        FundHoldings,
        NavStrike,
        PremiumDay,
        TokenMark,
        TrackingError,
        annuity_days,
        basket,
        premium_discount,
        read_secondary_prices,
        strike_nav,
        token_mark,
        tracking_error,
    )
    from hashmarket.pricing.market import Market
    from hashmarket.pricing.mining_finance import (
        CloudValuation,
        LeaseRisk,
        ScenarioPaths,
        cloud_valuation,
        lease_risk,
        market_with_past,
        scenario_paths,
    )
    from hashmarket.pricing.montecarlo import monte_carlo_price
    from hashmarket.pricing.onpaths import cashflows_by_period, mean_value, par_price
    from hashmarket.pricing.regional import RegionalMarket, monte_carlo_regional
    from hashmarket.pricing.regional_valuation import RegionalSetup, regional_setup
    from hashmarket.pricing.registry import (
        COMPUTE,
        ENGINES,
        REGIONAL,
        Engine,
        engine_for,
        engines_for,
        price,
    )
    from hashmarket.pricing.result import MonteCarloConfig, PricingResult
    from hashmarket.pricing.valuation import (
        ComputeSetup,
        ValuationSetup,
        calibrated,
        compute_index_of,
        compute_setup,
        forward_curve,
        horizon_days,
        market_for,
        value_instrument,
    )

__all__ = [
    "COMPUTE",
    "ENGINES",
    "REGIONAL",
    "Basket",
    "Black76Greeks",
    "BlackScholesGreeks",
    "CloudValuation",
    "ComputeMarket",
    "ComputeSetup",
    "CurvePoint",
    "DiscountCurve",
    "Engine",
    "FlatRate",
    "FundHoldings",
    "HashpriceCurve",
    "LeaseRisk",
    "Market",
    "MonteCarloConfig",
    "NavStrike",
    "PremiumDay",
    "PricingResult",
    "RegionalMarket",
    "RegionalSetup",
    "ScenarioPaths",
    "StoppingResult",
    "TokenMark",
    "TrackingError",
    "ValuationSetup",
    "ZeroCurve",
    "annuity_days",
    "basket",
    "black76_greeks",
    "black76_price",
    "black_scholes_greeks",
    "black_scholes_price",
    "calibrated",
    "cashflows_by_period",
    "cloud_valuation",
    "compute_index_of",
    "compute_setup",
    "discount_factors",
    "engine_for",
    "engines_for",
    "forward_curve",
    "hashprice_curve",
    "horizon_days",
    "irr",
    "lease_risk",
    "market_for",
    "market_with_past",
    "mean_value",
    "merton_price",
    "monte_carlo_price",
    "monte_carlo_regional",
    "npv",
    "optimal_stopping",
    "par_price",
    "premium_discount",
    "price",
    "read_secondary_prices",
    "regional_setup",
    "scenario_paths",
    "strike_nav",
    "token_mark",
    "tracking_error",
    "value_instrument",
    "year_fraction",
]

__getattr__, __dir__ = lazy_exports(globals())
