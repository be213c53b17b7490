"""Every position of a portfolio valued on every scenario path at a horizon.

The P&L of a position over ``h`` days on a path is ``u_h · V_h − u_0 · V_0``:

* ``V_h`` = the cash flows it pays on days 1 … h of the path (at face) + its mark-to-market on
  day h (what is still to come, discounted to h). ``u`` converts to USD: 1 for USD positions,
  the day's BTC price for BTC positions (BTC received is held to the horizon).
* ``V_0`` = its value today: the mean over paths of every cash flow after today, discounted to
  today (the Monte Carlo price on the same paths; at zero drift and rates the pricing measure).

BTC amounts are valued with BTC as the numeraire, by the pricing engine's rule
(``pricing.pathvalue``): X_t BTC paid after day d is weighted by ``S_t / E[S_t | day d]``
(``E[S_t | day d] = S_d e^{μ (t − d)}``, μ the paths' BTC/USD drift), so a BTC position's
``V_0`` is ``E[D_usd X_t S_t] / S_0`` and agrees with ``pricing.price`` on the same paths, and
its mark on day h is worth, at ``S_h``, what its future BTC is worth in USD. The P&L stays in
USD: ``u_h · V_h − u_0 · V_0``.

Cash flows always come from the instrument's own ``cashflows(fixings)`` — the payoff that
pricing and settlement use. The mark-to-market on day h is a conditional expectation given the
path so far, estimated three ways:

* **analytic** where the engine registry has a closed form on paths
  (:func:`~hashmarket.pricing.registry.closed_form_on_paths`): a European option on BTC/USD
  under GBM is Black–Scholes at the path's price on day h;
* **affine** instruments (forwards, futures, swaps on a fixed quantity: cash flows affine in
  the fixings) are detected by probing ``cashflows`` — a base path, one bump per fixing the
  contract reads, and two random paths that must be predicted exactly. Their value is then a
  linear functional of the fixings, so only the conditional forward of each fixing is needed:
  ``E[F_t | day h] ≈ X_h · γ_t``, one least-squares regression per field and day on features
  ``X_h`` of the path's state (below), shared by every affine position (for BTC-settled ones,
  the BTC-numeraire forward ``E[F_t S_t | day h] / E[S_t | day h]``, regressed the same way);
* **regression** for every other contract (options on averages, tokens, notes, loans): the
  path's own discounted future cash flows regressed on ``X_h`` (Longstaff–Schwartz style).

``X_h`` has 14 columns: a constant and polynomial terms in the standardized log BTC price,
difficulty, hashrate and fee on day h and the log averages of price and hashprice over days
1 … h (standardized with the first chunk's mean and spread). Cross-products are accumulated
chunk by chunk (``XᵀX``, ``XᵀF``, ``XᵀY``), so memory is ``paths × (features + realized
fixings + non-affine contracts)``, not ``paths × days``.

The result, :class:`PnLModel`, stores each position's P&L in factor form —
``P&L = (Z · w + c + NL) · u − u_0 V_0`` with ``Z`` the realized fixings, features and price
per path — from which the total, any block of positions or any subset of paths is a product.
"""

from typing import TYPE_CHECKING

from hashmarket._lazy import lazy_exports

if TYPE_CHECKING:
    from hashmarket.pricing.revaluation.compute import (
        compute_factor,
        compute_only_pnl,
        gpu_horizon_paths,
        horizon_values,
        with_positions,
    )
    from hashmarket.pricing.revaluation.distributed import DistributedPnL, distributed_pnl
    from hashmarket.pricing.revaluation.engine import fit_and_value, monte_carlo_pnl, value_paths
    from hashmarket.pricing.revaluation.exposure import MarkProfile, mark_profile
    from hashmarket.pricing.revaluation.marks import FeatureScaling, FittedMarks, PnLModel, features
    from hashmarket.pricing.revaluation.path import path_fixings, value_on_path
    from hashmarket.pricing.revaluation.plan import (
        Book,
        PathSource,
        RevaluationPlan,
        plan_valuation,
    )
    from hashmarket.pricing.revaluation.probe import AffineForm, Prober, affine_form

__all__ = [
    "AffineForm",
    "Book",
    "DistributedPnL",
    "FeatureScaling",
    "FittedMarks",
    "MarkProfile",
    "PathSource",
    "PnLModel",
    "Prober",
    "RevaluationPlan",
    "affine_form",
    "compute_factor",
    "compute_only_pnl",
    "distributed_pnl",
    "features",
    "fit_and_value",
    "gpu_horizon_paths",
    "horizon_values",
    "mark_profile",
    "monte_carlo_pnl",
    "path_fixings",
    "plan_valuation",
    "value_on_path",
    "value_paths",
    "with_positions",
]

__getattr__, __dir__ = lazy_exports(globals())
