"""Write ``transactions_generated.csv``: GENERATED crypto lending transactions for the lending
reference rate example.

Nothing here is market data. The file has what a real book of trades has — more short loans
than long ones, fewer trades at weekends, rates that drift day to day with a term structure,
sizes spread over two orders of magnitude, a few loans below the minimum size, a few between
accounts of one owner, a few absurd rates and tenors that fit no bucket — so that every rule
of the method and every level of the fallback waterfall is exercised. Seeded: running this
again writes the same file.

    python examples/lending/generate_transactions.py
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from hashmarket.index import LENDING_COLUMNS

SEED = 2026
FIRST, LAST = dt.date(2025, 11, 3), dt.date(2026, 1, 22)
# Per currency and tenor: typical days to maturity, the starting rate (a fraction per year)
# and the mean number of trades on a weekday.
TENORS = {
    "usd": {"on": (1, 0.062, 8.0), "1w": (7, 0.068, 5.5), "1m": (30, 0.078, 4.5),
            "3m": (91, 0.088, 1.2)},
    "btc": {"on": (1, 0.004, 7.0), "1w": (7, 0.007, 5.0), "1m": (30, 0.013, 4.0),
            "3m": (91, 0.022, 1.0)},
}  # fmt: skip
# Median size and its log-spread: $250,000 and 4 BTC.
SIZES = {"usd": (250_000.0, 0.8, 2), "btc": (4.0, 0.8, 8)}
LENDERS = [f"lender-{i:02d}" for i in range(1, 13)]
BORROWERS = [f"borrower-{i:02d}" for i in range(1, 21)]


def generate(seed: int = SEED) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []
    days = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
    for currency, tenors in TENORS.items():
        level = {t: base for t, (_, base, _) in tenors.items()}
        for day in days:
            shock = rng.normal(0.0, 0.0008)  # a move shared by every tenor
            for tenor, (term_days, base, weekday_mean) in tenors.items():
                # Mean-reverting drift of the tenor's level.
                level[tenor] += 0.05 * (base - level[tenor]) + shock + rng.normal(0.0, 0.0004)
                mean = weekday_mean * (1.0 if day.weekday() < 5 else 0.3)
                for _ in range(rng.poisson(mean)):
                    rows.append(trade(rng, currency, day, term_days, level[tenor], len(rows)))
    return rows


def trade(
    rng: np.random.Generator, currency: str, day: dt.date, term_days: int, level: float, n: int
) -> dict[str, str]:
    median, spread, decimals = SIZES[currency]
    amount = median * float(np.exp(rng.normal(0.0, spread)))
    if rng.random() < 0.05:
        amount *= 0.02  # below the minimum size
    rate = level + rng.normal(0.0, 0.003 if currency == "usd" else 0.001)
    if rng.random() < 0.02:
        rate *= 3.0  # an off-market rate the median ignores
    days = term_days + int(rng.integers(-1, 2)) if term_days > 1 else int(rng.integers(1, 3))
    if rng.random() < 0.02:
        days = 60  # between buckets: counts for no tenor
    lender = LENDERS[int(rng.integers(len(LENDERS)))]
    borrower = BORROWERS[int(rng.integers(len(BORROWERS)))]
    lender_owner = f"owner-{lender}"
    borrower_owner = lender_owner if rng.random() < 0.03 else f"owner-{borrower}"  # self-dealing
    return {
        "transaction_id": f"gen-{currency}-{n:05d}",
        "currency": currency,
        "start_date": day.isoformat(),
        "maturity_date": (day + dt.timedelta(days=days)).isoformat(),
        "amount": f"{amount:.{decimals}f}",
        "rate_per_year": f"{max(rate, 0.0):.5f}",
        "lender": lender,
        "borrower": borrower,
        "lender_owner": lender_owner,
        "borrower_owner": borrower_owner,
    }


def main() -> None:
    target = Path(__file__).with_name("transactions_generated.csv")
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LENDING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
