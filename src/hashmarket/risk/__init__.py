"""Portfolio risk, miner hedging and lending.

* :mod:`~hashmarket.risk.portfolio` — positions (instruments, spot BTC, tokens, loans);
* :mod:`~hashmarket.pricing.revaluation` — every position valued on every scenario at a horizon;
* :mod:`~hashmarket.risk.var` — VaR and expected shortfall, per position too;
* :mod:`~hashmarket.risk.historical` — bootstrapped historical scenarios;
* :mod:`~hashmarket.risk.stress` — named stress scenarios;
* :mod:`~hashmarket.risk.hedging` — a miner's months and the hedge planner;
* :mod:`~hashmarket.risk.credit` — haircuts, LTV levels, a loan's life over scenarios (the
  loan's terms and path payoff: :mod:`hashmarket.instruments.loans`; its booking on the
  ledger: :mod:`hashmarket.ledger.loans`, both re-exported here);
* :mod:`~hashmarket.risk.leverage` — leveraged BTC exposure (1.1× to 3×);
* :mod:`~hashmarket.risk.counterparty` — exposure profiles, CVA and margin of OTC contracts;
* :mod:`~hashmarket.risk.analysis` — one call per question (what the CLI runs);
* :mod:`~hashmarket.risk.specs` — the JSON/YAML inputs (HTML reports: :mod:`hashmarket.reports`).
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.instruments.forward_loans import deliverable_forward
    from hashmarket.instruments.loan_paths import LoanPaths
    from hashmarket.instruments.loans import (
        Collateral,
        CollateralKind,
        Loan,
        LoanRounding,
        loan_life,
    )
    from hashmarket.ledger.loans import LoanAccounts, book_events, open_accounts, transfer_id
    from hashmarket.pricing.revaluation import PnLModel, monte_carlo_pnl, value_paths
    from hashmarket.risk.analysis import (
        PortfolioRiskReport,
        hedge_analysis,
        past_fixings,
        portfolio_report,
    )
    from hashmarket.risk.counterparty import (
        CollateralAgreement,
        Counterparty,
        CounterpartyReport,
        ExposureProfile,
        counterparty_report,
        cva_usd,
    )
    from hashmarket.risk.counterparty_spec import (
        NettingSetSpec,
        load_netting_set,
        parse_netting_set,
    )
    from hashmarket.risk.credit import (
        HaircutPolicy,
        LoanSummary,
        LtvLevels,
        TailModel,
        VolatilityEstimate,
        ewma_volatility,
        haircut,
        ltv_levels,
        ltv_levels_from_history,
        tail_quantile,
    )
    from hashmarket.risk.hedge_choice import Capital, HedgeChoice, PlanOutcome, capital_at_risk
    from hashmarket.risk.hedge_plan import Distribution, Hedge, HedgePlan, evaluate, plan_hedge
    from hashmarket.risk.hedging import HedgePricing, MinerProfile, simulate_miner
    from hashmarket.risk.historical import Bootstrap, change_table
    from hashmarket.risk.lending_studies import (
        CurrencyComparison,
        CurrencyLeg,
        ProtectionAnalysis,
        btc_twin,
        currency_comparison,
        liquidation_hashprice,
        miner_net_usd,
        protection_analysis,
        protection_put,
    )
    from hashmarket.risk.leverage import LeveragedBtc, LeverageOutcome, simulate_leverage
    from hashmarket.risk.loan_analysis import (
        LoanReport,
        lending_analysis,
        levels_from_history,
        leverage_report,
        loan_report,
    )
    from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
    from hashmarket.risk.specs import (
        RatesFor,
        load_lending,
        load_miner,
        load_portfolio,
        parse_lending,
        parse_miner,
        parse_portfolio,
        with_horizon,
    )
    from hashmarket.risk.stress import StressResult, StressScenario, run_stress, standard_scenarios
    from hashmarket.risk.var import RiskResult, VarEstimate, portfolio_risk, var_es

__all__ = [
    "Bootstrap",
    "Capital",
    "Collateral",
    "CollateralAgreement",
    "CollateralKind",
    "Counterparty",
    "CounterpartyReport",
    "CurrencyComparison",
    "CurrencyLeg",
    "Distribution",
    "ExposureProfile",
    "HaircutPolicy",
    "Hedge",
    "HedgeChoice",
    "HedgePlan",
    "HedgePricing",
    "LeverageOutcome",
    "LeveragedBtc",
    "Loan",
    "LoanAccounts",
    "LoanPaths",
    "LoanReport",
    "LoanRounding",
    "LoanSummary",
    "LtvLevels",
    "MinerProfile",
    "NettingSetSpec",
    "PlanOutcome",
    "PnLModel",
    "Portfolio",
    "PortfolioRiskReport",
    "Position",
    "PositionKind",
    "ProtectionAnalysis",
    "RatesFor",
    "RiskResult",
    "StressResult",
    "StressScenario",
    "TailModel",
    "VarEstimate",
    "VolatilityEstimate",
    "book_events",
    "btc_twin",
    "capital_at_risk",
    "change_table",
    "counterparty_report",
    "currency_comparison",
    "cva_usd",
    "deliverable_forward",
    "evaluate",
    "ewma_volatility",
    "haircut",
    "hedge_analysis",
    "lending_analysis",
    "levels_from_history",
    "leverage_report",
    "liquidation_hashprice",
    "load_lending",
    "load_miner",
    "load_netting_set",
    "load_portfolio",
    "loan_life",
    "loan_report",
    "ltv_levels",
    "ltv_levels_from_history",
    "miner_net_usd",
    "monte_carlo_pnl",
    "open_accounts",
    "parse_lending",
    "parse_miner",
    "parse_netting_set",
    "parse_portfolio",
    "past_fixings",
    "plan_hedge",
    "portfolio_report",
    "portfolio_risk",
    "protection_analysis",
    "protection_put",
    "run_stress",
    "simulate_leverage",
    "simulate_miner",
    "standard_scenarios",
    "tail_quantile",
    "transfer_id",
    "value_paths",
    "var_es",
    "with_horizon",
]

__getattr__, __dir__ = lazy_exports(globals())
