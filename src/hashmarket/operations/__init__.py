"""Operations: fleet economics (breakeven, margin, payback) and the hourly dispatch of a site's
power between mining, AI compute and curtailment."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.operations.catalogue import Catalogue, load_catalogue
    from hashmarket.operations.conversion import (
        AiTerms,
        ConversionSite,
        ConversionTerms,
        LeaseTerms,
        MiningTerms,
        ValuationTerms,
        tenant_probability,
    )
    from hashmarket.operations.conversion_inputs import (
        parse_conversion_site,
        read_conversion_site,
    )
    from hashmarket.operations.conversion_run import ConversionReport, convert, with_overrides
    from hashmarket.operations.conversion_value import (
        ConversionPaths,
        ConversionValuation,
        joint_paths,
        value_conversion,
    )
    from hashmarket.operations.dispatch_conversion import (
        ConversionPlan,
        apply_conversion,
        parse_conversion_plan,
        read_conversion_plan,
    )
    from hashmarket.operations.dispatch_inputs import parse_site, read_prices, read_site
    from hashmarket.operations.dispatch_plan import DispatchComparison
    from hashmarket.operations.dispatch_program import compare
    from hashmarket.operations.fleet import (
        Breakeven,
        Costs,
        Fleet,
        FleetLine,
        Machine,
        ProfitReport,
        breakeven,
        breakeven_hashprice_usd_per_ph_day,
        breakeven_power_price_usd_per_kwh,
        daily_margin_usd,
        energy_cost_usd_per_ph_day,
        profit_on_history,
        shutdown_hashprice_usd_per_ph_day,
        shutdown_power_price_usd_per_kwh,
    )
    from hashmarket.operations.hosting import (
        HostingPeriod,
        HostingScenarios,
        client_breakeven_hashprice_usd_per_ph_day,
        hosting_period,
        hosting_scenarios,
        parse_contract,
        with_catalogue_machine,
    )
    from hashmarket.operations.payback import (
        Payback,
        PaybackDistribution,
        payback_days,
        payback_on_path,
        payback_on_scenarios,
    )
    from hashmarket.operations.projection import Projection, monthly_growth_from_log_rate, project

__all__ = [
    "AiTerms",
    "Breakeven",
    "Catalogue",
    "ConversionPaths",
    "ConversionPlan",
    "ConversionReport",
    "ConversionSite",
    "ConversionTerms",
    "ConversionValuation",
    "Costs",
    "DispatchComparison",
    "Fleet",
    "FleetLine",
    "HostingPeriod",
    "HostingScenarios",
    "LeaseTerms",
    "Machine",
    "MiningTerms",
    "Payback",
    "PaybackDistribution",
    "ProfitReport",
    "Projection",
    "ValuationTerms",
    "apply_conversion",
    "breakeven",
    "breakeven_hashprice_usd_per_ph_day",
    "breakeven_power_price_usd_per_kwh",
    "client_breakeven_hashprice_usd_per_ph_day",
    "compare",
    "convert",
    "daily_margin_usd",
    "energy_cost_usd_per_ph_day",
    "hosting_period",
    "hosting_scenarios",
    "joint_paths",
    "load_catalogue",
    "monthly_growth_from_log_rate",
    "parse_contract",
    "parse_conversion_plan",
    "parse_conversion_site",
    "parse_site",
    "payback_days",
    "payback_on_path",
    "payback_on_scenarios",
    "profit_on_history",
    "project",
    "read_conversion_plan",
    "read_conversion_site",
    "read_prices",
    "read_site",
    "shutdown_hashprice_usd_per_ph_day",
    "shutdown_power_price_usd_per_kwh",
    "tenant_probability",
    "value_conversion",
    "with_catalogue_machine",
    "with_overrides",
]

__getattr__, __dir__ = lazy_exports(globals())
