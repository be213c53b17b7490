"""Portfolio risk, miner hedging and lending.

* :mod:`~hashmarket.risk.portfolio` — positions (instruments, spot BTC, tokens, loans);
* :mod:`~hashmarket.risk.valuation` — every position valued on every scenario at a horizon;
* :mod:`~hashmarket.risk.var` — VaR and expected shortfall, per position too;
* :mod:`~hashmarket.risk.historical` — bootstrapped historical scenarios;
* :mod:`~hashmarket.risk.stress` — named stress scenarios;
* :mod:`~hashmarket.risk.credit` — haircuts, LTV levels, a loan's life over scenarios;
* :mod:`~hashmarket.risk.leverage` — leveraged BTC exposure (1.1× to 3×).
"""
