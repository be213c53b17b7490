"""The whole daily hashprice index, every day from 2009 on, both methods.

Target: under 50 ms. Baseline in the same run: one numpy pass of the same FPPS arithmetic on
bare arrays, i.e. the floor any implementation pays for the maths alone.
"""

from __future__ import annotations

import numpy as np

from benchmarks.timing import median_seconds
from hashmarket.chain.history import NetworkHistory
from hashmarket.index.hashprice import Method, hashprice_table


def main() -> None:
    history = NetworkHistory.load()
    days = len(history.frame)

    def both_methods() -> None:
        hashprice_table(history, method=Method.FPPS)
        hashprice_table(history, method=Method.REALIZED)

    f = history.frame
    d, s, fee, n = (
        f[c].to_numpy() for c in ("difficulty", "subsidy_btc", "fees_btc", "block_count")
    )

    def bare_arithmetic() -> None:
        with np.errstate(invalid="ignore", divide="ignore"):
            8.64e19 * (s + fee / n) / (d * 2**32)

    index_s = median_seconds(both_methods, repeat=21)
    bare_s = median_seconds(bare_arithmetic, repeat=21)
    load_s = median_seconds(NetworkHistory.load, repeat=5)
    print(f"days: {days:,} ({history.first_date} to {history.last_date})")
    print(f"index, both methods, 7/30-day averages: {index_s * 1e3:.2f} ms median (target < 50 ms)")
    print(f"baseline, bare numpy FPPS arithmetic:  {bare_s * 1e3:.3f} ms median")
    print(f"(loading + merging the CSV files: {load_s * 1e3:.1f} ms median, not in the target)")
