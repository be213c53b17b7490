"""The published fixings settlement reads, and the buyer's daily amounts built from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.chain import NetworkHistory
from hashmarket.errors import DataError
from hashmarket.index import (
    Fixing,
    GpuFixing,
    PowerPrices,
    QuoteTable,
    RegionalFixing,
    fixings,
    gpu_fixings,
    load_bundled_quotes,
    regional_fixings,
)
from hashmarket.instruments import (
    REGIONAL_INSTRUMENTS,
    ComputeForward,
    Fixings,
    ForwardSettlement,
    fixings_from_gpu_index,
    fixings_from_regional,
)
from hashmarket.ledger.settlement.terms import (
    ContractStatus,
    SettledInstrument,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PublishedFixings:
    """The fixings published so far, from which settlement builds each contract's path:
    hashprice fixings in USD and BTC (``index.fixings.fixings``), GPU-hour index fixings
    (``index.compute.gpu_fixings``) and regional margin fixings (``index.regional``). A run
    for day D reads none dated after D."""

    usd: tuple[Fixing, ...] = ()
    btc: tuple[Fixing, ...] = ()
    gpu: tuple[GpuFixing, ...] = ()
    regional: tuple[RegionalFixing, ...] = ()

    def hashrate(self, first: dt.date, through: dt.date) -> tuple[Fixings, str]:
        """Fixings of ``first … through`` and a digest of the published records used."""
        usd = [f for f in self.usd if first <= f.date <= through]
        btc = [f for f in self.btc if first <= f.date <= through]
        if not usd and not btc:
            raise unpublished(first, through)
        fixings = Fixings.from_published(usd=usd, btc=btc)
        if fixings.first_date > first or fixings.last_date < through:
            raise unpublished(first, through, fixings.first_date, fixings.last_date)
        lines = [f"{f.date}|{f.currency}|{f.value}|{f.inputs_sha256}" for f in usd + btc]
        return fixings, _digest(lines)

    def compute(
        self, gpu_model: str, term: str, first: dt.date, through: dt.date
    ) -> tuple[Fixings, str]:
        chosen = [
            f
            for f in self.gpu
            if f.gpu_model == gpu_model
            and f.term == term
            and f.period_start == f.period_end
            and first <= f.period_start <= through
        ]
        if not chosen:
            raise unpublished(first, through, what=f"{gpu_model} {term} GPU-hour")
        fixings = fixings_from_gpu_index(chosen, gpu_model=gpu_model, term=term)
        if fixings.first_date > first or fixings.last_date < through:
            raise unpublished(
                first, through, fixings.first_date, fixings.last_date, f"{gpu_model} {term} GPU"
            )
        lines = [
            f"{f.period_start}|{f.gpu_model}|{f.term}|{f.value}|{f.inputs_sha256}" for f in chosen
        ]
        return fixings, _digest(lines)

    def regional_path(
        self, regions: Sequence[str], efficiency_j_per_th: float, first: dt.date, through: dt.date
    ) -> tuple[Fixings, str]:
        """The regional margin fixings of ``regions`` at the efficiency, ``first … through``
        (every region every day), and a digest of the published records used."""
        chosen = [
            f
            for f in self.regional
            if f.region in regions
            and f.efficiency_j_per_th == efficiency_j_per_th
            and first <= f.date <= through
        ]
        what = f"regional margin ({', '.join(regions)} at {efficiency_j_per_th:g} J/TH)"
        if not chosen:
            raise unpublished(first, through, what=what)
        for region in regions:
            days = {f.date for f in chosen if f.region == region}
            if len(days) != (through - first).days + 1:
                found = sorted(days)
                raise unpublished(
                    first,
                    through,
                    found[0] if found else None,
                    found[-1] if found else None,
                    f"{what} for {region}",
                )
        lines = [f"{f.date}|{f.region}|{f.value}|{f.inputs_sha256}" for f in chosen]
        return fixings_from_regional(chosen), _digest(lines)


class UnpublishedError(Exception):
    """Fixings missing for a window; the caller names the contract."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def unpublished(
    first: dt.date,
    through: dt.date,
    found_first: dt.date | None = None,
    found_last: dt.date | None = None,
    what: str = "hashprice",
) -> UnpublishedError:
    needed = f"needs published {what} fixings from {first} to {through}"
    if found_first is None:
        return UnpublishedError(f"{needed}; none are published")
    return UnpublishedError(f"{needed}; the published ones run from {found_first} to {found_last}")


def _digest(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode("utf-8")).hexdigest()


def buyer_amounts(
    instrument: SettledInstrument, published: PublishedFixings, first: dt.date, through: dt.date
) -> tuple[FloatArray, str]:
    """What the buyer receives on each day of ``first … through`` (currency units), from the
    instrument's own payoff on the published path, and the digest of the fixings used."""
    if isinstance(instrument, ComputeForward):
        fixings, digest = published.compute(instrument.gpu_model, instrument.term, first, through)
        fixings = fixings.between(first, through)
        if through < instrument.end:
            # The compute forward's payoff reads its whole window, unlike the hashrate
            # instruments, which pay the days covered. A daily forward's amount on a day
            # depends on that day's fixing alone, so the forward cut at `through` pays the
            # same amounts on the days it covers; an average forward pays only at its end.
            if instrument.settlement is ForwardSettlement.AVERAGE:
                return np.zeros((through - first).days + 1), digest
            instrument = dataclasses.replace(instrument, end=through)
        amounts = instrument.cashflows(fixings)[0]
    elif isinstance(instrument, REGIONAL_INSTRUMENTS):
        path, digest = published.regional_path(
            instrument.regions, instrument.efficiency_j_per_th, first, through
        )
        amounts = instrument.cashflows(path.between(first, through))[0]
    else:
        hashrate, digest = published.hashrate(first, through)
        amounts = instrument.cashflows(hashrate.between(first, through))[0]
    return np.asarray(amounts * instrument.side.sign, dtype=np.float64), digest


def published_fixings(
    statuses: Sequence[ContractStatus],
    day: dt.date,
    *,
    history: NetworkHistory,
    gpu_quotes: QuoteTable | None = None,
    power_prices: PowerPrices | None = None,
) -> PublishedFixings:
    """The fixings published through ``day`` that the live contracts' windows need: hashprice
    fixings from the network history, GPU-hour fixings from ``gpu_quotes`` (default: the
    bundled sample)."""
    live = [s for s in statuses if not s.state.final and s.first_day <= day]
    regional = [s for s in live if isinstance(s.instrument, REGIONAL_INSTRUMENTS)]
    hashrate = [
        s for s in live if not isinstance(s.instrument, (ComputeForward, *REGIONAL_INSTRUMENTS))
    ]
    usd: list[Fixing] = []
    btc: list[Fixing] = []
    if hashrate:
        start = min(s.first_day for s in hashrate)
        if start <= min(day, history.last_date):
            window = history.between(start, day)
            usd, btc = fixings(window, currency="usd"), fixings(window, currency="btc")
    gpu: list[GpuFixing] = []
    if any(isinstance(s.instrument, ComputeForward) for s in live):
        quotes = gpu_quotes if gpu_quotes is not None else load_bundled_quotes()
        gpu = [f for f in gpu_fixings(quotes) if f.period_end <= day]
    return PublishedFixings(
        usd=tuple(usd),
        btc=tuple(btc),
        gpu=tuple(gpu),
        regional=tuple(_regional(regional, day, history, power_prices)),
    )


def _regional(
    statuses: Sequence[ContractStatus],
    day: dt.date,
    history: NetworkHistory,
    prices: PowerPrices | None,
) -> list[RegionalFixing]:
    """Regional margin fixings through ``day`` for the live regional contracts, at each
    contract's efficiency (none without power prices: those contracts then wait for them)."""
    if not statuses or prices is None:
        return []
    out: list[RegionalFixing] = []
    start = min(s.first_day for s in statuses)
    wanted: dict[float, set[str]] = {}
    for s in statuses:
        instrument: Any = s.instrument
        wanted.setdefault(instrument.efficiency_j_per_th, set()).update(instrument.regions)
    for efficiency, regions in sorted(wanted.items()):
        known = [r for r in sorted(regions) if r in prices.prices]
        if not known or start > day:
            continue
        try:
            out += regional_fixings(
                history, prices, efficiency_j_per_th=efficiency, regions=known, start=start, end=day
            )
        except DataError as error:
            if error.key != "regional_no_days":  # no prices yet: the contracts wait for them
                raise
    return out
