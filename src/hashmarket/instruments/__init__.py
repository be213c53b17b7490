"""Instruments: frozen dataclasses of contract terms, each with one payoff,
``cashflows(fixings) -> amounts[paths, periods]``, used by pricing and by settlement alike.

``amounts[p, t]`` is what the holder (buyer, long, note or token holder) receives at the end
of day ``fixings.dates[t]`` on path ``p``, in ``instrument.currency`` (negative: pays).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.instruments.cloud import (
        CloudHashrate,
        CloudLife,
        cloud_life,
        flat_breakeven_hashprice_btc_per_ph_day,
        upfront_price_btc,
    )
    from hashmarket.instruments.compute import (
        ComputeForward,
        ComputeLease,
        ForwardSettlement,
        fixings_from_gpu_index,
    )
    from hashmarket.instruments.fixings import FIXING_FIELDS, DateArray, Fixings, to_day
    from hashmarket.instruments.forwards import (
        BtcPriceSwap,
        DifficultyFuture,
        EpochValueFuture,
        HashpriceForward,
        HashrateFuture,
    )
    from hashmarket.instruments.hosting import Hosting, HostingStatement
    from hashmarket.instruments.lease import (
        Instalment,
        LeasePaths,
        MachineLease,
        annuity_schedule,
        lease_life,
    )
    from hashmarket.instruments.loans import (
        Collateral,
        CollateralKind,
        Loan,
        LoanEvent,
        LoanPaths,
        LoanRounding,
        collateral_unit_values,
        deliverable_forward,
        loan_life,
    )
    from hashmarket.instruments.options import AsianOption, Collar, EuropeanOption, vanilla_payoff
    from hashmarket.instruments.spec import INSTRUMENT_TYPES, load_spec, parse_spec, to_spec
    from hashmarket.instruments.structured import (
        DualCurrencyKind,
        DualCurrencyNote,
        SharkFinNote,
        Tranche,
        YieldSplitNote,
    )
    from hashmarket.instruments.terms import (
        Instrument,
        OptionType,
        SettlementCurrency,
        Side,
        Underlying,
        month_periods,
    )
    from hashmarket.instruments.tokens import DailyAmounts, HashrateToken, TokenTerms

__all__ = [
    "FIXING_FIELDS",
    "INSTRUMENT_TYPES",
    "AsianOption",
    "BtcPriceSwap",
    "CloudHashrate",
    "CloudLife",
    "Collar",
    "Collateral",
    "CollateralKind",
    "ComputeForward",
    "ComputeLease",
    "DailyAmounts",
    "DateArray",
    "DifficultyFuture",
    "DualCurrencyKind",
    "DualCurrencyNote",
    "EpochValueFuture",
    "EuropeanOption",
    "Fixings",
    "ForwardSettlement",
    "HashpriceForward",
    "HashrateFuture",
    "HashrateToken",
    "Hosting",
    "HostingStatement",
    "Instalment",
    "Instrument",
    "LeasePaths",
    "Loan",
    "LoanEvent",
    "LoanPaths",
    "LoanRounding",
    "MachineLease",
    "OptionType",
    "SettlementCurrency",
    "SharkFinNote",
    "Side",
    "TokenTerms",
    "Tranche",
    "Underlying",
    "YieldSplitNote",
    "annuity_schedule",
    "cloud_life",
    "collateral_unit_values",
    "deliverable_forward",
    "fixings_from_gpu_index",
    "flat_breakeven_hashprice_btc_per_ph_day",
    "lease_life",
    "load_spec",
    "loan_life",
    "month_periods",
    "parse_spec",
    "to_day",
    "to_spec",
    "upfront_price_btc",
    "vanilla_payoff",
]

__getattr__, __dir__ = lazy_exports(globals())
