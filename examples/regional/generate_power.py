"""Write ``power_generated.csv``: GENERATED daily power prices for the regional example.

Nothing here is market data: no regional power prices ship with the project. Three made-up
regions follow a mean-reverting log process — the model ``docs/regional.md`` calibrates — each
with its own level, pull and volatility; one (``texas``) also moves with the bundled hashprice
index (its daily shocks are 0.3 correlated with the hashprice's log changes), so that the
calibration has a correlation to find. Seeded: running this again writes the same file.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from hashmarket import NetworkHistory, hashprice_table

START = dt.date(2024, 1, 1)
END = dt.date(2026, 1, 22)  # the bundled index's as-of date
SEED = 2026
DT_YEARS = 1.0 / 365.0
# region: (long-run USD/MWh, reversion per year, volatility per √year, correlation)
REGIONS = {
    "paraguay": (30.0, 5.0, 0.35, 0.0),
    "quebec": (35.0, 10.0, 0.50, 0.0),
    "texas": (45.0, 20.0, 1.20, 0.3),
}


def hashprice_shocks(days: list[dt.date]) -> np.ndarray:
    """The bundled hashprice's daily log changes, standardised (0 where a day lacks one)."""
    table = hashprice_table(NetworkHistory.load())
    usd = table["hashprice_usd_per_ph_day"]
    values = np.array([usd.get(np.datetime64(d), np.nan) for d in days], dtype=np.float64)
    change = np.diff(np.log(values), prepend=np.nan)
    known = np.isfinite(change)
    z = np.zeros(len(days))
    z[known] = (change[known] - change[known].mean()) / change[known].std()
    return z


def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    days = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
    z = hashprice_shocks(days)
    rows = []
    for region, (mean_mwh, kappa, sigma, rho) in REGIONS.items():
        decay = np.exp(-kappa * DT_YEARS)
        step_sd = sigma * np.sqrt((1 - decay**2) / (2 * kappa))
        mu = np.log(mean_mwh)
        x = mu
        for i, day in enumerate(days):
            if i:
                shock = rho * z[i] + np.sqrt(1 - rho**2) * rng.standard_normal()
                x = mu + (x - mu) * decay + step_sd * shock
            rows.append({"date": day.isoformat(), "region": region, "mwh": float(np.exp(x))})
    rows.sort(key=lambda r: (r["date"], r["region"]))
    return [
        {"date": r["date"], "region": r["region"], "price_usd_per_mwh": f"{r['mwh']:.2f}"}
        for r in rows
    ]


def main() -> None:
    rows = generate()
    path = Path(__file__).with_name("power_generated.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} generated daily prices to {path}")


if __name__ == "__main__":
    main()
