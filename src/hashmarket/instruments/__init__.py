"""Instruments: frozen dataclasses of contract terms, each with one payoff,
``cashflows(fixings) -> amounts[paths, periods]``, used by pricing and by settlement alike.

``amounts[p, t]`` is what the holder (buyer, long, note or token holder) receives at the end
of day ``fixings.dates[t]`` on path ``p``, in ``instrument.currency`` (negative: pays).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.instruments.fixings import FIXING_FIELDS, Fixings
    from hashmarket.instruments.forwards import (
        BtcPriceSwap,
        DifficultyFuture,
        EpochValueFuture,
        HashpriceForward,
        HashrateFuture,
    )
    from hashmarket.instruments.loans import (
        Collateral,
        CollateralKind,
        Loan,
        LoanEvent,
        LoanPaths,
        LoanRounding,
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
    )
    from hashmarket.instruments.tokens import DailyAmounts, HashrateToken, TokenTerms

__all__ = [
    "FIXING_FIELDS",
    "INSTRUMENT_TYPES",
    "AsianOption",
    "BtcPriceSwap",
    "Collar",
    "Collateral",
    "CollateralKind",
    "DailyAmounts",
    "DifficultyFuture",
    "DualCurrencyKind",
    "DualCurrencyNote",
    "EpochValueFuture",
    "EuropeanOption",
    "Fixings",
    "HashpriceForward",
    "HashrateFuture",
    "HashrateToken",
    "Instrument",
    "Loan",
    "LoanEvent",
    "LoanPaths",
    "LoanRounding",
    "OptionType",
    "SettlementCurrency",
    "SharkFinNote",
    "Side",
    "TokenTerms",
    "Tranche",
    "Underlying",
    "YieldSplitNote",
    "deliverable_forward",
    "load_spec",
    "loan_life",
    "parse_spec",
    "to_spec",
    "vanilla_payoff",
]

__getattr__, __dir__ = lazy_exports(globals())
