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
    from hashmarket.instruments.floating import (
        FloatingRate,
        RateReset,
        floating_claim_usd,
        floating_record,
        interest_schedule,
        period_interest_minor,
        reset_periods,
        with_fixings,
    )
    from hashmarket.instruments.forward_loans import deliverable_forward
    from hashmarket.instruments.forwards import (
        BtcPriceSwap,
        DifficultyFuture,
        EpochValueFuture,
        HashpriceForward,
        HashrateFuture,
    )
    from hashmarket.instruments.fund import (
        FundIncome,
        FundTerms,
        load_fund_spec,
        parse_fund_spec,
    )
    from hashmarket.instruments.hosting import Hosting, HostingStatement
    from hashmarket.instruments.lease import (
        Instalment,
        LeasePaths,
        MachineLease,
        annuity_schedule,
        lease_life,
    )
    from hashmarket.instruments.loan_paths import LoanEvent, LoanPaths
    from hashmarket.instruments.loans import (
        Collateral,
        CollateralKind,
        Loan,
        LoanRounding,
        collateral_unit_values,
        loan_life,
        sale_share,
    )
    from hashmarket.instruments.machine_loans import (
        MachineCollateral,
        machine_facts,
        margin_value_slope_ph_days,
        margin_value_usd,
        obsolescence_date,
        secondary_fraction,
    )
    from hashmarket.instruments.options import AsianOption, Collar, EuropeanOption, vanilla_payoff
    from hashmarket.instruments.regional import (
        REGIONAL_INSTRUMENTS,
        BasisSettlement,
        MarginLock,
        PowerForward,
        RegionalBasisSwap,
        RegionalInstrument,
        fixings_from_regional,
        margin_field,
        power_field,
        with_margins,
    )
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
    "REGIONAL_INSTRUMENTS",
    "AsianOption",
    "BasisSettlement",
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
    "FloatingRate",
    "ForwardSettlement",
    "FundIncome",
    "FundTerms",
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
    "MachineCollateral",
    "MachineLease",
    "MarginLock",
    "OptionType",
    "PowerForward",
    "RateReset",
    "RegionalBasisSwap",
    "RegionalInstrument",
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
    "fixings_from_regional",
    "flat_breakeven_hashprice_btc_per_ph_day",
    "floating_claim_usd",
    "floating_record",
    "interest_schedule",
    "lease_life",
    "load_fund_spec",
    "load_spec",
    "loan_life",
    "machine_facts",
    "margin_field",
    "margin_value_slope_ph_days",
    "margin_value_usd",
    "month_periods",
    "obsolescence_date",
    "parse_fund_spec",
    "parse_spec",
    "period_interest_minor",
    "power_field",
    "reset_periods",
    "sale_share",
    "secondary_fraction",
    "to_day",
    "to_spec",
    "upfront_price_btc",
    "vanilla_payoff",
    "with_fixings",
    "with_margins",
]

__getattr__, __dir__ = lazy_exports(globals())
