"""How a service instance is configured (explicit, passed in; no globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    data_dir: Path
    ledger_url: str | None = None  # default: sqlite:///<data_dir>/ledger.sqlite
    include_noncommercial: bool = True
    max_body_bytes: int = 1_000_000
    rate_limit_per_s: float = 20.0
    rate_limit_burst: float = 40.0
    # Monte Carlo and optimisation requests running at once (the others wait for a turn).
    max_computations: int = max(1, os.cpu_count() or 1)

    @property
    def resolved_ledger_url(self) -> str:
        return self.ledger_url or f"sqlite:///{self.data_dir / 'ledger.sqlite'}"
