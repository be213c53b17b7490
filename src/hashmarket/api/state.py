"""What a running service holds: its configuration, its stores, and cached index tables."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from fastapi import Request

from hashmarket.api.config import ServiceConfig
from hashmarket.api.keys import ServiceStore
from hashmarket.api.record_writer import RecordWriter
from hashmarket.chain import NetworkHistory
from hashmarket.index import (
    AsOf,
    Method,
    hashprice_records,
    hashprice_table,
    resolve_asof,
    select_days,
)
from hashmarket.ledger import Ledger
from hashmarket.models import Calibration
from hashmarket.pricing import ValuationSetup, calibrated
from hashmarket.today import today
from hashmarket.units import Currency, HashrateUnit

RECORDS_CACHE_SIZE = 256


@dataclass
class ServiceState:
    config: ServiceConfig
    store: ServiceStore
    _history: NetworkHistory | None = None
    _tables: dict[Method, pd.DataFrame] = field(default_factory=dict)
    _records: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict)
    _calibrations: dict[ValuationSetup, Calibration] = field(default_factory=dict)
    _ledger: Ledger | None = None
    _record_writer: RecordWriter | None = None
    _ledger_lock: threading.Lock = field(default_factory=threading.Lock)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def history(self) -> NetworkHistory:
        """The network history, loaded once per process (data changes need a restart)."""
        with self._lock:
            if self._history is None:
                self._history = NetworkHistory.load(
                    data_dir=self.config.data_dir,
                    include_noncommercial=self.config.include_noncommercial,
                )
            return self._history

    def hashprice_records(
        self,
        *,
        start: dt.date | None,
        end: dt.date | None,
        last: int | None,
        unit: HashrateUnit,
        currency: Currency,
        method: Method,
        asof: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """Index records for a query, cached: the history does not change while serving."""
        query = (start, end, last, unit, currency, method, asof)
        cached = self._records.get(query)
        if cached is None:
            table = self.hashprice(method)
            value_column = (
                "hashprice_usd_per_ph_day"
                if currency is Currency.USD
                else "hashprice_btc_per_ph_day"
            )
            rows = select_days(
                table, start=start, end=end, last=last, value_column=value_column, asof=asof
            )
            cached = hashprice_records(rows, unit=unit, currency=currency)
            if len(self._records) >= RECORDS_CACHE_SIZE:
                self._records.pop(next(iter(self._records)))
            self._records[query] = cached
        return cached

    @property
    def record_writer(self) -> RecordWriter:
        """The idempotency records' group-committing writer (its connection opens at first use)."""
        with self._lock:
            if self._record_writer is None:
                self._record_writer = RecordWriter(
                    self.config.resolved_ledger_url,
                    lease_ns=round(self.config.idempotency_lease_s * 1e9),
                    retention_ns=round(self.config.idempotency_retention_s * 1e9),
                )
            return self._record_writer

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        """The ledger, opened once per process; one request uses it at a time (the embedded
        store has one writer anyway, and the server store serializes per transaction)."""
        with self._ledger_lock:
            if self._ledger is None:
                self._ledger = Ledger.open(self.config.resolved_ledger_url, create=True)
            yield self._ledger

    def asof(self, requested: dt.date | None = None, *, allow_subsidy_only: bool = False) -> AsOf:
        """The as-of date of a request (see :func:`resolve_asof`); staleness against today's
        date, read here at the edge (``HASHMARKET_TODAY`` overrides the clock)."""
        return resolve_asof(
            self.history,
            requested=requested,
            today=today(),
            allow_subsidy_only=allow_subsidy_only,
            table=self.hashprice(Method.FPPS),
        )

    def calibration(self, setup: ValuationSetup) -> Calibration:
        """Models calibrated as of ``setup.asof``, once per setup per process."""
        history = self.history
        with self._lock:
            if setup not in self._calibrations:
                self._calibrations[setup] = calibrated(history, setup)
            return self._calibrations[setup]

    def hashprice(self, method: Method) -> pd.DataFrame:
        history = self.history
        with self._lock:
            if method not in self._tables:
                self._tables[method] = hashprice_table(history, method=method)
            return self._tables[method]


async def service(request: Request) -> ServiceState:  # async: no thread hop (see security)
    state: ServiceState = request.app.state.service
    return state
