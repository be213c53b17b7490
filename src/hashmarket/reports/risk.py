"""Self-contained HTML reports for ``hashmarket risk``, ``hedge``, ``loan`` and ``leverage``.

One file each: Plotly's JavaScript is embedded inline (``plotly.offline.get_plotlyjs``), so a
report opens without a network and can be mailed or archived. Every chart names its units on
its axes; every table states how its numbers were made.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hashmarket.reports.html import Cell, note, page, table
from hashmarket.risk import (
    Distribution,
    Hedge,
    HedgePlan,
    LeverageOutcome,
    LoanReport,
    LtvLevels,
    PortfolioRiskReport,
    RiskResult,
)

COLOURS = {"mc": "#4a7bd0", "hist": "#e8a33d", "hedged": "#2e7d32", "unhedged": "#c0392b"}


def _figure(fig: go.Figure) -> str:
    fig.update_layout(
        template="plotly_white", height=380, margin={"l": 70, "r": 30, "t": 40, "b": 60}
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return page(title, sections, subtitle=subtitle, script=get_plotlyjs())


# ---- portfolio risk ------------------------------------------------------------------------


def _pnl_histogram(results: Sequence[RiskResult], confidence: float) -> str:
    fig = go.Figure()
    places = ("top left", "bottom left")
    for result, colour, place in zip(
        results, (COLOURS["mc"], COLOURS["hist"]), places, strict=False
    ):
        fig.add_trace(
            go.Histogram(
                x=result.pnl_usd,
                name=f"{result.method.replace('_', ' ')} ({result.n_scenarios:,} scenarios)",
                histnorm="probability density",
                opacity=0.55,
                marker_color=colour,
                nbinsx=120,
            )
        )
        estimate = result.estimate(confidence)
        for value, dash, label in (
            (-estimate.var_usd, "dash", "VaR"),
            (-estimate.es_usd, "dot", "ES"),
        ):
            fig.add_vline(
                x=value,
                line_dash=dash,
                line_color=colour,
                annotation_text=f"{label} {confidence:.1%}",
                annotation_position=place,
            )
    fig.update_layout(
        barmode="overlay",
        title=f"P&L at the horizon, {results[0].horizon_days} days",
        xaxis_title="P&L (USD)",
        yaxis_title="probability density (1/USD)",
    )
    return _figure(fig)


def _stress_chart(report: PortfolioRiskReport) -> str:
    names = [s.scenario.name for s in report.stress]
    totals = [s.total_usd for s in report.stress]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=totals,
            marker_color=[COLOURS["hedged"] if t >= 0 else COLOURS["unhedged"] for t in totals],
        )
    )
    fig.update_layout(
        title="Stress scenarios: portfolio P&L", xaxis_title="scenario", yaxis_title="P&L (USD)"
    )
    return _figure(fig)


def _summary_rows(results: Sequence[RiskResult]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for r in results:
        for e in r.estimates:
            rows.append(
                [
                    (r.method.replace("_", " "), None),
                    (f"{e.confidence:.1%}", None),
                    (e.var_usd, 0),
                    (f"{e.var_low_usd:,.0f} … {e.var_high_usd:,.0f}", None),
                    (e.es_usd, 0),
                    (e.es_std_error_usd, 0),
                    (r.n_scenarios, 0),
                ]
            )
    return rows


def _positions_table(report: PortfolioRiskReport, first: float) -> str:
    rows: list[list[Cell]] = [
        [
            (p.name, None),
            (p.kind, None),
            (p.value0_usd, 0),
            (p.mean_pnl_usd, 0),
            (p.std_pnl_usd, 0),
            (p.var_usd, 0),
            (p.es_usd, 0),
            (p.es_contribution_usd, 0),
        ]
        for p in report.monte_carlo.positions
    ]
    return table(
        [
            "position",
            "kind",
            "value today",
            "mean P&L",
            "P&L s.d.",
            f"VaR {first:.1%}",
            f"ES {first:.1%}",
            f"ES contribution {first:.1%}",
        ],
        rows,
    )


def _stress_tables(report: PortfolioRiskReport) -> list[str]:
    """Each position's P&L in each stress scenario, and what each scenario moves."""
    header = ["position", *[s.scenario.name for s in report.stress]]
    rows: list[list[Cell]] = [
        [(name, None), *[(float(s.pnl_usd[j]), 0) for s in report.stress]]
        for j, name in enumerate(report.stress_names)
    ]
    rows.append([("total", None), *[(s.total_usd, 0) for s in report.stress]])
    scenarios: list[list[Cell]] = [
        [
            (s.scenario.name, None),
            (s.scenario.description, None),
            (s.scenario.horizon_days, 0),
        ]
        for s in report.stress
    ]
    return [table(header, rows), table(["scenario", "what moves", "days"], scenarios)]


def portfolio_html(report: PortfolioRiskReport) -> str:
    results = [report.monte_carlo] + ([report.historical] if report.historical else [])
    first = report.confidences[0]
    sections = [
        "<h2>Value at risk and expected shortfall (USD, loss positive)</h2>",
        table(
            ["method", "confidence", "VaR", "VaR 95% interval", "ES", "ES s.e.", "scenarios"],
            _summary_rows(results),
        ),
        _pnl_histogram(results, first),
        "<h2>Positions (Monte Carlo)</h2>",
        _positions_table(report, first),
        note(
            "Standalone VaR/ES of each position, and its contribution to the portfolio ES "
            "(minus its mean P&L over the portfolio's tail scenarios; the contributions add up "
            "to the portfolio ES)."
        ),
        "<h2>Stress scenarios (P&L in USD)</h2>",
        _stress_chart(report),
        *_stress_tables(report),
        "<h2>Methods</h2>",
        *(note(f"{k.replace('_', ' ')}: {v}") for k, v in report.methods.items()),
        *(note(n) for r in results for n in r.notes),
    ]
    return _page(
        f"Portfolio risk: {report.portfolio.name}",
        f"as of {report.asof}, horizon {report.horizon_days} days, "
        f"{len(report.portfolio)} positions",
        sections,
    )


# ---- hedge ---------------------------------------------------------------------------------


def _band(fig: go.Figure, months: Sequence[str], d: Distribution, name: str, rgb: str) -> None:
    """A P5–P95 band (translucent) and the median line of a monthly distribution."""
    edge = {"color": f"rgba({rgb},0.6)", "width": 0.5}
    fig.add_trace(
        go.Scatter(
            x=list(months), y=list(d.p95), mode="lines", line=edge, showlegend=False,
            hoverinfo="skip",
        )
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=list(months),
            y=list(d.p5),
            mode="lines",
            fill="tonexty",
            fillcolor=f"rgba({rgb},0.18)",
            line=edge,
            name=f"{name}: P5–P95",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(months),
            y=list(d.p50),
            mode="lines+markers",
            line={"color": f"rgb({rgb})", "width": 2},
            name=f"{name}: median",
        )
    )


def _net_cash_chart(plan: HedgePlan) -> str:
    chosen = plan.chosen
    fig = go.Figure()
    _band(fig, plan.months, plan.unhedged, "unhedged", "192,57,43")
    _band(fig, plan.months, chosen.after, f"hedged ({chosen.family})", "46,125,50")
    fig.add_hline(y=0, line_color="#444", line_dash="dot", annotation_text="cash costs covered")
    fig.update_layout(
        title="Monthly net cash: revenue − power − fixed costs (+ hedge)",
        xaxis_title="month",
        yaxis_title="net cash (USD per month)",
    )
    return _figure(fig)


def _coverage_chart(plan: HedgePlan) -> str:
    coverage = go.Figure()
    for name, d, colour in (
        ("unhedged", plan.unhedged, COLOURS["unhedged"]),
        (f"hedged ({plan.chosen.family})", plan.chosen.after, COLOURS["hedged"]),
        ("rule of thumb", plan.rule_of_thumb.after, COLOURS["hist"]),
    ):
        coverage.add_trace(
            go.Scatter(
                x=list(plan.months), y=list(d.coverage_by_month), name=name, line={"color": colour}
            )
        )
    coverage.add_hline(y=plan.target, line_dash="dash", annotation_text=f"target {plan.target:.0%}")
    coverage.update_layout(
        title="Probability that the month's cash costs are covered",
        xaxis_title="month",
        yaxis_title="probability (0–1)",
    )
    return _figure(coverage)


def _hedge_row(label: str, h: Hedge) -> list[Cell]:
    return [
        (label, None),
        (h.family, None),
        (h.ratio, 2),
        ("—" if h.put_moneyness is None else f"{h.put_moneyness:.0%}", None),
        (h.premium_usd, 0),
        (h.revenue_given_up_usd, 0),
        (h.after.probability_not_covered, 4),
        (h.after.coverage_all_months, 4),
    ]


def _hedges_table(plan: HedgePlan) -> str:
    """The chosen hedge, the rule of thumb and every candidate the planner kept."""
    header = [
        "",
        "hedge",
        "share of output",
        "put strike",
        "premium (USD)",
        "expected revenue given up (USD)",
        "P(not covered), worst month",
        "P(every month covered)",
    ]
    rows = [_hedge_row("recommended" if plan.recommended else "best effort", plan.chosen)]
    rows.append(_hedge_row("rule of thumb", plan.rule_of_thumb))
    rows += [_hedge_row("candidate", c) for c in plan.candidates]
    return table(header, rows)


def _months_table(plan: HedgePlan) -> str:
    after = plan.chosen.after
    rows: list[list[Cell]] = [
        [
            (m, None),
            (plan.revenue_mean_usd[i], 0),
            (plan.costs_usd[i], 0),
            (plan.unhedged.p5[i], 0),
            (plan.unhedged.p50[i], 0),
            (plan.unhedged.p95[i], 0),
            (after.p5[i], 0),
            (after.p50[i], 0),
            (after.p95[i], 0),
        ]
        for i, m in enumerate(plan.months)
    ]
    header = ["month", "mean revenue", "cash costs"]
    header += [f"{who} {q}" for who in ("unhedged", "hedged") for q in ("P5", "median", "P95")]
    return table(header, rows)


def _situation(plan: HedgePlan) -> list[str]:
    """The lock and puts plans side by side, and why one is chosen (``risk/hedge_choice``)."""
    choice = plan.choice
    if choice is None:
        return []
    lock, puts = choice.lock, choice.puts

    def row(label: str, a: Cell, b: Cell) -> list[Cell]:
        return [(label, None), a, b]

    rows = [
        row("hedge", (lock.hedge.family, None), (puts.hedge.family, None)),
        row("share of output", (lock.hedge.ratio, 2), (puts.hedge.ratio, 2)),
        row("premium USD", (lock.hedge.premium_usd, 0), (puts.hedge.premium_usd, 0)),
        row(
            "expected revenue given up USD",
            (lock.hedge.revenue_given_up_usd, 0),
            (puts.hedge.revenue_given_up_usd, 0),
        ),
        row(
            "P(capital recovered by the horizon) %",
            (100 * lock.probability_recovered, 1),
            (100 * puts.probability_recovered, 1),
        ),
        row("total net cash P5 USD", (lock.total_net_p5_usd, 0), (puts.total_net_p5_usd, 0)),
        row("total net cash P95 USD", (lock.total_net_p95_usd, 0), (puts.total_net_p95_usd, 0)),
    ]
    header = [
        "",
        *(f"{o.plan}{' (chosen)' if o.plan == choice.chosen else ''}" for o in (lock, puts)),
    ]
    return [
        f"<h2>Lock or keep the upside: {choice.capital.unrecovered_usd:,.0f} USD to recover "
        f"by {choice.horizon}</h2>",
        table(header, rows),
        note(f"Chosen: {choice.chosen} — {choice.reason}."),
    ]


def hedge_html(plan: HedgePlan) -> str:
    p = plan.profile
    sections = [
        "<h2>Recommendation</h2>",
        _hedges_table(plan),
        note(
            f"Unhedged: probability of not covering cash costs in the worst month "
            f"{plan.unhedged.probability_not_covered:.1%}; every month covered "
            f"{plan.unhedged.coverage_all_months:.1%}. BTC held ({p.btc_held:g} BTC) covers "
            f"{plan.treasury_months:.1f} months of cash costs at today's price."
        ),
        *(note(n) for n in plan.notes),
        *_situation(plan),
        _net_cash_chart(plan),
        _coverage_chart(plan),
        "<h2>Month by month (USD)</h2>",
        _months_table(plan),
        "<h2>Method</h2>",
        note(
            f"{plan.n_paths:,} paths of the calibrated network model (seed {plan.seed}); hedges "
            "priced on the same paths with the dealer's spread or markup; the planner keeps the "
            "hedge with the least expected revenue given up among those covering cash costs "
            f"with probability ≥ {plan.target:.0%} in every month."
        ),
    ]
    return _page(
        f"Hedge plan: {p.name}",
        f"as of {plan.asof}: {p.hashrate_phs:g} PH/s at {p.efficiency_j_per_th:g} J/TH, power "
        f"${p.power_usd_per_kwh:g}/kWh, fixed ${p.fixed_costs_usd_per_month:,.0f}/month",
        sections,
    )


# ---- loans and leverage --------------------------------------------------------------------


def _ltv_chart(report: LoanReport) -> str:
    s = report.summary
    loan = report.loan
    days = list(s.ltv_days)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=days, y=list(s.ltv_p95), line={"width": 0}, showlegend=False))
    fig.add_trace(
        go.Scatter(
            x=days,
            y=list(s.ltv_p5),
            fill="tonexty",
            line={"width": 0},
            fillcolor="rgba(74,123,208,0.3)",
            name="LTV P5–P95",
        )
    )
    fig.add_trace(
        go.Scatter(x=days, y=list(s.ltv_p50), name="LTV median", line={"color": COLOURS["mc"]})
    )
    for level, name in (
        (loan.initial_ltv, "initial"),
        (loan.margin_call_ltv, "margin call"),
        (loan.liquidation_ltv, "liquidation"),
    ):
        fig.add_hline(y=level, line_dash="dot", annotation_text=f"{name} {level:.1%}")
    fig.update_layout(
        title="Loan-to-value over the loan's life (live loans)",
        xaxis_title="date",
        yaxis_title="LTV (claim ÷ collateral value, 0–1)",
    )
    return _figure(fig)


def _levels_section(lv: LtvLevels) -> list[str]:
    """The LTV levels from haircuts, and how the haircuts were made."""
    vol = lv.volatility
    policy = lv.policy
    rows: list[list[Cell]] = [
        [(name, None), (days, 0), (haircut, 4), (ltv, 4)]
        for name, days, haircut, ltv in (
            ("initial", policy.initial_horizon_days, lv.initial_haircut, lv.initial_ltv),
            (
                "margin call",
                policy.margin_call_horizon_days,
                lv.margin_call_haircut,
                lv.margin_call_ltv,
            ),
            (
                "liquidation",
                policy.liquidation_horizon_days,
                lv.liquidation_haircut,
                lv.liquidation_ltv,
            ),
        )
    ]
    return [
        "<h2>LTV levels from haircuts</h2>",
        table(["level", "horizon (days)", "haircut", "LTV"], rows),
        note(
            f"H = q·σ·√h with q = {lv.quantile:.4f} ({policy.tail.value}, "
            f"{policy.confidence:.1%}), σ = {lv.sigma_daily:.4%} a day"
            + (
                f" (EWMA λ {vol.ewma_lambda} of {vol.series}, {vol.start} to {vol.end})"
                if vol is not None
                else ""
            )
            + f"; LTV = 1 − H − {policy.liquidation_cost:.0%} liquidation cost."
        ),
    ]


def loan_html(report: LoanReport) -> str:
    s = report.summary
    loan = report.loan
    rows: list[list[Cell]] = [
        [("probability of a margin call", None), (s.probability_margin_call, 4)],
        [("probability of liquidation", None), (s.probability_liquidation, 4)],
        [("expected loss to the lender (USD)", None), (s.expected_loss_usd, 0)],
        [("99% loss quantile (USD)", None), (s.loss_var_99_usd, 0)],
        [("expected lender P&L (USD)", None), (s.expected_lender_pnl_usd, 0)],
        [("expected top-ups (USD)", None), (s.expected_top_up_usd, 0)],
        [("LTV now", None), (report.ltv_now, 4)],
        [
            (f"collateral for the initial LTV ({loan.collateral.unit})", None),
            (report.collateral_for_initial_ltv, 4),
        ],
    ]
    sections = ["<h2>Over scenarios</h2>", table(["", ""], rows), _ltv_chart(report)]
    if report.levels is not None:
        sections += _levels_section(report.levels)
    return _page(
        f"Loan {loan.loan_id}",
        f"as of {report.asof}: ${loan.principal_usd:,.0f} at {loan.rate_per_year:.2%} from "
        f"{loan.start} to {loan.maturity}, {loan.collateral.quantity:g} {loan.collateral.unit}; "
        f"{s.n_paths:,} paths, seed {s.seed}",
        sections,
    )


def leverage_html(outcome: LeverageOutcome) -> str:
    summary = outcome.summary()
    fig = go.Figure(
        go.Histogram(
            x=outcome.pnl_usd,
            nbinsx=120,
            histnorm="probability density",
            marker_color=COLOURS["mc"],
        )
    )
    fig.update_layout(
        title=f"Holder's P&L after {outcome.days} days",
        xaxis_title="P&L (USD)",
        yaxis_title="probability density (1/USD)",
    )
    rows = [
        [(k.replace("_", " "), None), (v, 4 if isinstance(v, float) and abs(v) < 10 else 0)]
        for k, v in summary.items()
        if k != "name"
    ]
    return _page(
        f"Leveraged BTC: {outcome.position.name}",
        f"{outcome.position.leverage:g}x on ${outcome.position.equity_usd:,.0f}",
        [table(["", ""], rows), _figure(fig)],
    )
