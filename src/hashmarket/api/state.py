"""What a running service holds: its configuration, its stores, and cached index tables."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pandas as pd
from fastapi import Request

from hashmarket.api.config import ServiceConfig
from hashmarket.api.keys import ServiceStore
from hashmarket.chain.history import NetworkHistory
from hashmarket.index.hashprice import Method, hashprice_table


@dataclass
class ServiceState:
    config: ServiceConfig
    store: ServiceStore
    _history: NetworkHistory | None = None
    _tables: dict[Method, pd.DataFrame] = field(default_factory=dict)
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

    def hashprice(self, method: Method) -> pd.DataFrame:
        history = self.history
        with self._lock:
            if method not in self._tables:
                self._tables[method] = hashprice_table(history, method=method)
            return self._tables[method]


def service(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state
