"""A self-contained HTML report of a dispatch comparison: tables and inline SVG charts.

No scripts, no fonts, no CDN: one file that opens anywhere and can be mailed or archived.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import pandas as pd

from hashmarket.operations import DispatchComparison
from hashmarket.reports.format import number
from hashmarket.reports.html import note, page, table

WIDTH, HEIGHT = 920, 280
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 64, 16, 32
COLOURS = {"mining": "#e8a33d", "ai": "#4a7bd0", "price": "#c0392b"}
POLICY_COLOURS = {"optimal": "#2e7d32", "mine-only": "#e8a33d", "ai-only": "#4a7bd0"}


def _scale(lo: float, hi: float, a: float, b: float) -> Callable[[float], float]:
    """Map [lo, hi] linearly onto [a, b] (SVG pixels)."""
    span = hi - lo or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _polyline(xs: np.ndarray, ys: np.ndarray, colour: str, width: float = 1.5) -> str:
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{points}"/>'


def _area(xs: np.ndarray, top: np.ndarray, bottom: np.ndarray, colour: str) -> str:
    upper = [f"{x:.1f},{y:.1f}" for x, y in zip(xs, top, strict=True)]
    lower = [f"{x:.1f},{y:.1f}" for x, y in zip(xs[::-1], bottom[::-1], strict=True)]
    return f'<polygon fill="{colour}" fill-opacity="0.75" points="{" ".join(upper + lower)}"/>'


def _axis_labels(
    lo: float, hi: float, y_of: Callable[[float], float], x: float, anchor: str, unit: str
) -> str:
    out = []
    for v in np.linspace(lo, hi, 5):
        y = y_of(v)
        out.append(
            f'<text x="{x}" y="{y + 4:.1f}" font-size="11" text-anchor="{anchor}">'
            f"{v:,.0f}{unit}</text>"
        )
    return "".join(out)


def load_chart(plan_hours: pd.DataFrame, capacity_mw: float) -> str:
    """Daily mean MW by use (stacked) and the daily mean power price (line, right axis)."""
    daily = plan_hours[["mining_mw", "ai_mw", "power_price_usd_per_mwh"]].resample("D").mean()
    n = len(daily)
    x_of = _scale(0, max(n - 1, 1), PAD_LEFT, WIDTH - PAD_RIGHT)
    y_mw = _scale(0, capacity_mw, HEIGHT - PAD_BOTTOM, PAD_TOP)
    xs = np.array([x_of(i) for i in range(n)])
    ai = daily["ai_mw"].to_numpy()
    total = ai + daily["mining_mw"].to_numpy()
    zero = np.full(n, y_mw(0.0))
    price = daily["power_price_usd_per_mwh"].to_numpy()
    p_lo, p_hi = min(0.0, float(np.nanmin(price))), float(np.nanmax(price)) or 1.0
    y_price = _scale(p_lo, p_hi, HEIGHT - PAD_BOTTOM, PAD_TOP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="daily load by use">',
        _area(xs, np.array([y_mw(v) for v in ai]), zero, COLOURS["ai"]),
        _area(
            xs,
            np.array([y_mw(v) for v in total]),
            np.array([y_mw(v) for v in ai]),
            COLOURS["mining"],
        ),
        _polyline(xs, np.array([y_price(v) for v in price]), COLOURS["price"], 1.0),
        _axis_labels(0, capacity_mw, y_mw, PAD_LEFT - 6, "end", " MW"),
        _axis_labels(p_lo, p_hi, y_price, WIDTH - PAD_RIGHT + 6, "start", " $"),
    ]
    for i in range(0, n, max(n // 6, 1)):
        label = daily.index[i].strftime("%Y-%m-%d")
        parts.append(
            f'<text x="{x_of(i):.1f}" y="{HEIGHT - 10}" font-size="11" '
            f'text-anchor="middle">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def margin_chart(comparison: DispatchComparison) -> str:
    """Cumulative margin of each policy over the horizon."""
    series = {
        plan.policy.value: plan.hours["margin_usd"].resample("D").sum().cumsum()
        for plan in comparison.plans()
    }
    values = np.concatenate([s.to_numpy() for s in series.values()])
    lo, hi = min(0.0, float(values.min())), max(float(values.max()), 1.0)
    n = len(next(iter(series.values())))
    x_of = _scale(0, max(n - 1, 1), PAD_LEFT + 16, WIDTH - PAD_RIGHT)
    y_of = _scale(lo, hi, HEIGHT - PAD_BOTTOM, PAD_TOP)
    xs = np.array([x_of(i) for i in range(n)])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="cumulative margin by policy">'
    ]
    for name, s in series.items():
        ys = np.array([y_of(v) for v in s.to_numpy()])
        parts.append(_polyline(xs, ys, POLICY_COLOURS[name], 2.0))
        parts.append(
            f'<text x="{xs[-1] - 4:.1f}" y="{ys[-1] - 6:.1f}" font-size="11" text-anchor="end" '
            f'fill="{POLICY_COLOURS[name]}">{name}</text>'
        )
    for v in np.linspace(lo, hi, 5):
        parts.append(
            f'<text x="{PAD_LEFT + 10}" y="{y_of(v) + 4:.1f}" font-size="11" text-anchor="end">'
            f"${v / 1e6:,.1f}M</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def dispatch_html(comparison: DispatchComparison, *, prices_label: str) -> str:
    site = comparison.site
    optimal = comparison.optimal
    summary = comparison.summary()
    by_use = optimal.by_use()
    hours = optimal.hours
    first, last = hours.index[0], hours.index[-1]
    policy_rows = [
        [
            (policy, None),
            (r["margin_usd"], 0),
            (r["revenue_usd"], 0),
            (r["mwh"], 0),
            (r["revenue_usd_per_mwh"], 2),
            (r["margin_usd_per_mwh"], 2),
        ]
        for policy, r in summary.iterrows()
    ]
    use_rows = [
        [
            (use, None),
            (r["mwh"], 0),
            (r["revenue_usd"], 0),
            (r["revenue_usd_per_mwh"], 2),
            (r["margin_usd"], 0),
            (r["hours_on"], 0),
        ]
        for use, r in by_use.iterrows()
    ]
    block_rows = [
        [(name, None), (f"{a:%Y-%m-%d %H:%M}", None), (f"{b:%Y-%m-%d %H:%M}", None), (g, 0)]
        for name, a, b, g in comparison.contract_levels()
    ]
    gain = optimal.margin_usd - max(comparison.mine_only.margin_usd, comparison.ai_only.margin_usd)
    solve = optimal.solve
    sections = [
        f"<p>{len(hours):,} hours, {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC; prices "
        f"from {html.escape(prices_label)}. Connection {site.power_capacity_mw:g} MW; mining "
        f"up to {site.mining_mw_max:.2f} MW; GPUs up to {site.gpu_mw_max:.2f} MW.</p>",
        "<h2>Policies</h2>",
        table(
            ["policy", "margin USD", "revenue USD", "MWh", "revenue USD/MWh", "margin USD/MWh"],
            policy_rows,
        ),
        f"<p>The optimum earns {number(gain)} USD more than the better pure policy.</p>",
        "<h2>Cumulative margin</h2>",
        margin_chart(comparison),
        "<h2>Optimal plan: load by use (daily mean) and power price</h2>",
        load_chart(hours, site.power_capacity_mw),
        note("Orange: mining; blue: AI; red line: daily mean power price (right axis)."),
        "<h2>Optimal plan by use</h2>",
        table(["use", "MWh", "revenue USD", "revenue USD/MWh", "margin USD", "hours on"], use_rows),
    ]
    if block_rows:
        sections += [
            "<h2>AI contract levels (fixed within each term)</h2>",
            table(["contract", "from", "to", "GPUs"], block_rows),
        ]
    sections.append(
        note(
            f"Solver: HiGHS via scipy ({'mixed-integer' if solve.integer else 'linear'} "
            f"program), {solve.variables:,} variables, {solve.constraints:,} constraints, "
            f"{solve.solve_s:.2f} s; {solve.status}"
        )
    )
    return page(f"Dispatch: {site.name}", sections)
