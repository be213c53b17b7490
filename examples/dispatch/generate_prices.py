"""Write ``prices_generated.csv``: a GENERATED hourly series for the dispatch example.

Nothing here is market data. The series has the features a real one has — a daily shape, a
summer peak, autocorrelated noise, rare price spikes, negative midday hours, a few demand-
response events — so the example exercises every part of the optimiser. Seeded: running this
again writes the same file.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

HOURS = 8760
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SEED = 2025


def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    hour = np.arange(HOURS)
    local_hour = (hour - 6) % 24  # a site six hours behind UTC
    day_of_year = hour / 24.0
    daily = 12.0 * np.sin(2 * np.pi * (local_hour - 10) / 24)
    summer = 15.0 * np.exp(-(((day_of_year - 200) / 35.0) ** 2))
    noise = np.zeros(HOURS)
    for i in range(1, HOURS):  # AR(1): shocks that last a few hours
        noise[i] = 0.85 * noise[i - 1] + rng.normal(0.0, 6.0)
    power = 42.0 + daily + summer + noise
    spikes = rng.random(HOURS) < 0.004
    power[spikes] = rng.uniform(400.0, 3000.0, spikes.sum())
    solar = (local_hour >= 11) & (local_hour <= 14) & (rng.random(HOURS) < 0.08)
    power[solar] = rng.uniform(-30.0, -1.0, solar.sum())
    # GPU-hour market price: a slow mean-reverting walk around $2.00.
    gpu = np.empty(HOURS)
    gpu[0] = 2.0
    for i in range(1, HOURS):
        gpu[i] = gpu[i - 1] + 0.002 * (2.0 - gpu[i - 1]) + rng.normal(0.0, 0.01)
    # Demand response: twelve four-hour summer afternoon events paying $150/MWh curtailed.
    dr = np.zeros(HOURS)
    for day in rng.choice(np.arange(170, 240), size=12, replace=False):
        first = int(day) * 24 + 6 + 15  # 15:00 local
        dr[first : first + 4] = 150.0
    rows = []
    for i in range(HOURS):
        moment = START + dt.timedelta(hours=i)
        rows.append(
            {
                "time_utc": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "price_usd_per_mwh": f"{power[i]:.2f}",
                "gpu_price_usd_per_gpu_hour": f"{gpu[i]:.4f}",
                "demand_response_usd_per_mwh": f"{dr[i]:.2f}",
            }
        )
    return rows


def main() -> None:
    rows = generate()
    path = Path(__file__).with_name("prices_generated.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} generated hours to {path}")


if __name__ == "__main__":
    main()
