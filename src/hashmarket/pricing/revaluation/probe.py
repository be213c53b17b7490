"""The affinity probe: whether a payoff's cash flows are affine in the fixings, and if so
their weights (see :mod:`hashmarket.pricing.revaluation`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hashmarket.errors import PricingError, RiskError
from hashmarket.instruments import Fixings, Instrument

FloatArray = npt.NDArray[np.float64]
DateArray = npt.NDArray[np.datetime64]

AFFINE_RTOL = 1e-8
_PROBE_SEED = 20_240_420  # fixed: the affinity probe is deterministic
CHECK_LEVELS = (-2.0, -1.0, -0.35, 0.35, 1.0, 2.0)  # log levels of the probe's check paths


def day_index(asof: dt.date, day: dt.date) -> int:
    return (day - asof).days


@dataclass(frozen=True)
class AffineForm:
    """``value = const + Σ g[field][d] · F[field][d]`` over days d ≥ 1 from the as-of date,
    for the weights of one valuation (realized at face to h, discounted after h), and the same
    with weights discounted to today (``g0``, ``const0``)."""

    fields: tuple[str, ...]
    first_day: int
    last_day: int
    g_h: FloatArray  # [fields, last_day - first_day + 1]
    const_h: float
    g_0: FloatArray
    const_0: float


class _RecordingFixings(Fixings):
    """Fixings that note which fields a payoff reads (through ``window``)."""

    def record(self) -> set[str]:
        seen: set[str] = set()
        object.__setattr__(self, "_seen", seen)
        return seen

    def window(
        self, name: str, start: dt.date, end: dt.date, *, instrument: str
    ) -> tuple[slice, FloatArray]:
        seen = getattr(self, "_seen", None)
        if seen is not None:
            seen.add(name)
        return super().window(name, start, end, instrument=instrument)


@dataclass(frozen=True)
class _ProbePaths:
    """The probe of one window and set of fields: row 0 the base path, then one row per
    (field, day after the as-of date) bumped by ``step``, then the check paths."""

    fixings: Fixings
    fields: tuple[str, ...]
    cols: npt.NDArray[np.int64]  # the window's columns after the as-of date
    steps: dict[str, FloatArray]
    moves: dict[str, FloatArray]  # check rows' moves in units of the step [checks, cols]

    @property
    def n_bumps(self) -> int:
        return len(self.fields) * len(self.cols)


class Prober:
    """Finds affine forms by probing ``cashflows`` (module docstring). The probe paths move
    every fixing field and are built once per window, shared by every contract over that
    window; they record which fields a payoff reads, so each contract costs one
    ``cashflows`` call, and only the bumps of the fields it reads are used."""

    def __init__(self, base: Fixings, asof: dt.date) -> None:
        self.base = base
        self.asof = asof
        self._first, self._last = base.first_date, base.last_date
        self._probes: dict[tuple[dt.date, dt.date], _ProbePaths] = {}

    def probe(self, first: dt.date, last: dt.date) -> _ProbePaths | None:
        lo, hi = max(first, self._first), min(last, self._last)
        if hi < lo:
            return None
        if (lo, hi) not in self._probes:
            self._probes[lo, hi] = self._build(self.base.between(lo, hi))
        return self._probes[lo, hi]

    def _build(self, window: Fixings) -> _ProbePaths:
        fields = tuple(sorted(window.values))
        offset = day_index(self.asof, window.first_date)
        cols = np.arange(max(1, offset) - offset, window.n_periods)
        n_bumps = len(fields) * len(cols)
        n_probe = 1 + n_bumps + len(CHECK_LEVELS)
        rng = np.random.default_rng(_PROBE_SEED)
        values: dict[str, FloatArray] = {}
        steps: dict[str, FloatArray] = {}
        moves: dict[str, FloatArray] = {}
        for i, name in enumerate(fields):
            base_row = window.values[name][0]
            rows = np.tile(base_row, (n_probe, 1))
            step = np.where(np.abs(base_row) > 0, np.abs(base_row), 1.0)
            bumped = 1 + i * len(cols) + np.arange(len(cols))
            rows[bumped, cols] += step[cols]
            # Check paths moved on every day, by a lot and each way (a level from e^-2 to e^2
            # of the base, with day-to-day noise): an affine payoff is predicted exactly by
            # its bumps; an option, a ratio or a product is not, unless its strike is far
            # outside that range.
            for r, level in enumerate(CHECK_LEVELS):
                noise = rng.normal(0.0, 0.3, len(cols))
                rows[1 + n_bumps + r, cols] = base_row[cols] * np.exp(level + noise)
            moves[name] = (rows[1 + n_bumps :, cols] - base_row[None, cols]) / step[None, cols]
            steps[name] = step
            values[name] = rows
        return _ProbePaths(
            fixings=_RecordingFixings(dates=window.dates, values=values),
            fields=fields,
            cols=cols,
            steps=steps,
            moves=moves,
        )

    def affine_form(
        self,
        instrument: Instrument,
        *,
        first: dt.date,
        last: dt.date,
        weights_h: FloatArray,
        weights_0: FloatArray,
    ) -> tuple[AffineForm | None, frozenset[str] | None]:
        """The contract's affine form (or ``None``), and the fields its payoff reads."""
        probe = self.probe(first, last)
        if probe is None:
            return None, None
        recording = probe.fixings
        assert isinstance(recording, _RecordingFixings)
        seen = recording.record()
        try:
            with np.errstate(all="ignore"):
                cf = np.asarray(instrument.cashflows(recording), dtype=np.float64)
        except (PricingError, RiskError, ValueError, ZeroDivisionError):
            return None, frozenset(seen) or None
        finally:
            object.__setattr__(recording, "_seen", None)
        read = frozenset(seen)
        window = recording
        if window.last_date <= self.asof or not read or "height" in read:
            return None, read
        if not np.isfinite(cf).all():
            return None, read
        fields = tuple(f for f in probe.fields if f in read)
        cols, n_cols = probe.cols, len(probe.cols)
        position = {f: i for i, f in enumerate(probe.fields)}
        deltas = {
            f: cf[1 + position[f] * n_cols : 1 + (position[f] + 1) * n_cols] - cf[0] for f in fields
        }
        predicted = np.repeat(cf[:1], len(CHECK_LEVELS), axis=0)
        for name in fields:
            predicted += probe.moves[name] @ deltas[name]
        scale = float(np.abs(cf).max()) + 1e-12
        actual = cf[1 + probe.n_bumps :]
        if float(np.abs(actual - predicted).max()) > AFFINE_RTOL * scale:
            return None, read
        days = day_index(self.asof, window.first_date) + np.arange(window.n_periods)
        paying = days >= 1
        w_h = np.where(paying, weights_h[np.clip(days, 0, len(weights_h) - 1)], 0.0)
        w_0 = np.where(paying, weights_0[np.clip(days, 0, len(weights_0) - 1)], 0.0)
        g_h = np.zeros((len(fields), n_cols))
        g_0 = np.zeros((len(fields), n_cols))
        const_h = float(cf[0] @ w_h)
        const_0 = float(cf[0] @ w_0)
        for i, name in enumerate(fields):
            per_unit = deltas[name] / probe.steps[name][cols][:, None]  # d cash flow / d fixing
            g_h[i] = per_unit @ w_h
            g_0[i] = per_unit @ w_0
            base_future = window.values[name][0][cols]
            const_h -= float(g_h[i] @ base_future)
            const_0 -= float(g_0[i] @ base_future)
        form = AffineForm(
            fields=fields,
            first_day=int(days[cols[0]]),
            last_day=int(days[-1]),
            g_h=g_h,
            const_h=const_h,
            g_0=g_0,
            const_0=const_0,
        )
        return form, read


def affine_form(
    instrument: Instrument,
    *,
    base: Fixings,
    asof: dt.date,
    first: dt.date,
    last: dt.date,
    weights_h: FloatArray,
    weights_0: FloatArray,
) -> AffineForm | None:
    """The affine form of ``instrument``'s cash flows over days after ``asof``, or ``None`` if
    its cash flows are not affine in the fixings (one contract; see :class:`Prober`)."""
    form, _ = Prober(base, asof).affine_form(
        instrument, first=first, last=last, weights_h=weights_h, weights_0=weights_0
    )
    return form


# ---- features of a path's state on day h ----------------------------------------------------
