"""How a service instance is configured (explicit, passed in; no globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hashmarket.api.keys import KEY_CACHE_TTL_S
from hashmarket.errors import UsageError


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    data_dir: Path
    ledger_url: str | None = None  # default: sqlite:///<data_dir>/ledger.sqlite
    include_noncommercial: bool = True
    max_body_bytes: int = 1_000_000
    rate_limit_per_s: float = 20.0
    rate_limit_burst: float = 40.0
    # Failed authentications per client address: a burst, then one per 10 s (429 beyond).
    auth_failure_burst: float = 10.0
    auth_failures_per_minute: float = 6.0
    # A request with the Idempotency-Key of one still running waits this long for it (then
    # 409); a claim whose process died is taken over by the same request after the lease.
    idempotency_wait_s: float = 10.0
    idempotency_lease_s: float = 300.0
    # A key's record is forgotten this long after its claim (then the key is new again).
    idempotency_retention_s: float = 86_400.0
    # A key's row is cached this long: the bound on how late a revocation made by another
    # process is seen here (one made through this process's store is seen at once).
    key_cache_ttl_s: float = KEY_CACHE_TTL_S
    # Monte Carlo and optimisation requests running at once (the others wait for a turn).
    max_computations: int = max(1, os.cpu_count() or 1)

    def __post_init__(self) -> None:
        if not self.idempotency_retention_s > self.idempotency_lease_s:
            raise UsageError(
                "bad_option",
                option="idempotency_retention_s",
                problem=f"{self.idempotency_retention_s:g} s must exceed the claims' lease"
                f" ({self.idempotency_lease_s:g} s)",
            )

    @property
    def resolved_ledger_url(self) -> str:
        return self.ledger_url or f"sqlite:///{self.data_dir / 'ledger.sqlite'}"
