"""Indices computed from the network history: the hashprice index and its daily fixings."""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.index.asof import AsOf, resolve_asof
    from hashmarket.index.compute import (
        DEFAULT_MAD_THRESHOLD,
        GpuFixing,
        Methodology,
        Period,
        gpu_fixings,
    )
    from hashmarket.index.fixings import METHODOLOGY_VERSION, Fixing, day_fixings, fixings
    from hashmarket.index.gpu_quotes import (
        BUNDLED_QUOTES_FILE,
        QuoteTable,
        Term,
        bundled_quotes_path,
        canonical_model,
        load_bundled_quotes,
        read_quotes,
    )
    from hashmarket.index.hashprice import (
        Method,
        epoch_value_btc_per_ph,
        hashprice_btc_per_ph_day,
        hashprice_table,
        realized_hashprice_btc_per_ph_day,
    )
    from hashmarket.index.lending_fixings import business_days, lending_fixings
    from hashmarket.index.lending_rate import (
        LENDING_METHODOLOGY_VERSION,
        TENOR_DAYS,
        LendingCurrency,
        LendingFixing,
        LendingMethodology,
        LendingTransaction,
        Tenor,
        ineligibility,
        tenor_of,
        trimmed_statistics,
    )
    from hashmarket.index.lending_transactions import (
        LENDING_COLUMNS,
        LENDING_FIRST_DATE,
        LENDING_LAST_DATE,
        import_transactions,
        imported_transactions,
        read_transactions,
    )
    from hashmarket.index.power_prices import (
        EXAMPLE_POWER_FILE,
        PowerPrices,
        example_power_prices_path,
        load_example_power_prices,
        read_power_prices,
    )
    from hashmarket.index.records import hashprice_records, select_days
    from hashmarket.index.regional import (
        KWH_PER_PH_DAY_PER_J_PER_TH,
        REFERENCE_EFFICIENCY_J_PER_TH,
        REGIONAL_METHODOLOGY_VERSION,
        RegionalFixing,
        power_cost_usd_per_ph_day,
        regional_fixings,
        regional_margin_usd_per_ph_day,
    )

__all__ = [
    "BUNDLED_QUOTES_FILE",
    "DEFAULT_MAD_THRESHOLD",
    "EXAMPLE_POWER_FILE",
    "KWH_PER_PH_DAY_PER_J_PER_TH",
    "LENDING_COLUMNS",
    "LENDING_FIRST_DATE",
    "LENDING_LAST_DATE",
    "LENDING_METHODOLOGY_VERSION",
    "METHODOLOGY_VERSION",
    "REFERENCE_EFFICIENCY_J_PER_TH",
    "REGIONAL_METHODOLOGY_VERSION",
    "TENOR_DAYS",
    "AsOf",
    "Fixing",
    "GpuFixing",
    "LendingCurrency",
    "LendingFixing",
    "LendingMethodology",
    "LendingTransaction",
    "Method",
    "Methodology",
    "Period",
    "PowerPrices",
    "QuoteTable",
    "RegionalFixing",
    "Tenor",
    "Term",
    "bundled_quotes_path",
    "business_days",
    "canonical_model",
    "day_fixings",
    "epoch_value_btc_per_ph",
    "example_power_prices_path",
    "fixings",
    "gpu_fixings",
    "hashprice_btc_per_ph_day",
    "hashprice_records",
    "hashprice_table",
    "import_transactions",
    "imported_transactions",
    "ineligibility",
    "lending_fixings",
    "load_bundled_quotes",
    "load_example_power_prices",
    "power_cost_usd_per_ph_day",
    "read_power_prices",
    "read_quotes",
    "read_transactions",
    "realized_hashprice_btc_per_ph_day",
    "regional_fixings",
    "regional_margin_usd_per_ph_day",
    "resolve_asof",
    "select_days",
    "tenor_of",
    "trimmed_statistics",
]

__getattr__, __dir__ = lazy_exports(globals())
