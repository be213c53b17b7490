"""What every engine returns, and the Monte Carlo configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hashmarket.errors import PricingError
from hashmarket.models import DEFAULT_STREAM_PATHS, parse_scheduler

Measure = Literal["risk_neutral", "model"]
Method = Literal["plain", "pseudo", "sobol"]
METHODS: tuple[str, ...] = ("plain", "pseudo", "sobol")
# Called with (paths done, paths in all) as a long run goes.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PricingResult:
    """A price with its Monte Carlo error (0 for closed forms), path count and seed.

    ``value`` is the present value to the holder in ``currency`` (USD or BTC units).
    ``greeks`` are named with their bump (``delta_usd_per_usd`` …); ``diagnostics`` says how
    the number was made (horizon, measure, drift, timing, …).
    """

    value: float
    std_error: float
    n_paths: int
    seed: int | None
    currency: str
    engine: str
    greeks: Mapping[str, float] = field(default_factory=dict)
    diagnostics: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "std_error": self.std_error,
            "currency": self.currency,
            "n_paths": self.n_paths,
            "seed": self.seed,
            "engine": self.engine,
            "greeks": dict(self.greeks),
            "diagnostics": dict(self.diagnostics),
        }


@dataclass(frozen=True)
class MonteCarloConfig:
    """How a Monte Carlo price is made (QuantLib's builder options, as one value).

    Give ``n_paths`` or ``target_std_error`` (not both); with a target, paths are added in
    seeded batches until the standard error reaches it or ``max_paths`` is used. ``measure``
    ``risk_neutral`` drifts BTC/USD at r_usd − r_btc (hashrate keeps its model dynamics: it is
    not traded); ``model`` uses the model's own drift. ``greeks`` adds bump-and-reprice Greeks
    with common random numbers. ``chunk_paths``, ``stream_paths`` and ``workers`` are passed
    to the scenario generator (see ``models.ScenarioConfig``).

    ``method`` says how paths are drawn:

    * ``plain`` — every field of the network model, every day, pseudo-random (antithetic if
      asked), no control variates: the reference the others are measured against;
    * ``pseudo`` — only the fields the payoff reads, on the days it reads them (the BTC
      price stepped exactly between fixing dates when nothing else is read), the same
      pseudo-random streams, and control variates with known means (``control_variates``);
    * ``sobol`` — as ``pseudo`` with scrambled Sobol points laid out by a Brownian bridge:
      ``randomizations`` independent scramblings of a power-of-two number of points each,
      whose spread gives the standard error (antithetic pairs are not used).
    ``scheduler`` runs the chunks on
    a Dask cluster — ``"local"``, ``"local:N"`` or a scheduler address (see
    ``models.backend``); the numbers are the same as in process, bit for bit.
    """

    n_paths: int | None = 20_000
    target_std_error: float | None = None
    max_paths: int = 2_000_000
    seed: int = 0
    antithetic: bool = True
    chunk_paths: int | None = None
    stream_paths: int = DEFAULT_STREAM_PATHS
    workers: int = 1
    measure: Measure = "risk_neutral"
    greeks: bool = False
    method: Method = "plain"
    control_variates: bool = True
    randomizations: int = 16
    scheduler: str | None = None

    def __post_init__(self) -> None:
        def bad(problem: str) -> PricingError:
            return PricingError("mc_config", problem=problem)

        if self.target_std_error is not None:
            if self.n_paths is not None:
                raise bad("give n_paths or target_std_error, not both")
            if not self.target_std_error > 0:
                raise bad(f"target_std_error must be positive, got {self.target_std_error}")
        elif self.n_paths is None or self.n_paths <= 0:
            raise bad(f"n_paths must be a positive number, got {self.n_paths}")
        if self.max_paths <= 0:
            raise bad(f"max_paths must be positive, got {self.max_paths}")
        if self.measure not in ("risk_neutral", "model"):
            raise bad(f"measure must be 'risk_neutral' or 'model', got {self.measure!r}")
        if self.seed < 0:
            raise bad(f"seed must not be negative, got {self.seed}")
        if self.method not in METHODS:
            raise bad(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.randomizations < 2:
            raise bad(f"randomizations must be at least 2, got {self.randomizations}")
        if self.scheduler is not None:
            parse_scheduler(self.scheduler)
