"""Reading a dispatch problem: the site (JSON) and the hourly prices (CSV), strictly.

Every refusal names the file and the field (site) or the line, column and value (prices).
Prices may be negative — real power markets clear below zero — but not NaN, not text, not out
of order, not duplicated, and not with missing hours: nothing is filled in.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hashmarket.chain.sources import Column, Schema, Table, read_csv
from hashmarket.errors import DataError, HashmarketError, Location
from hashmarket.operations.catalogue import load_catalogue
from hashmarket.operations.dispatch import (
    SECONDS_PER_HOUR,
    AiContract,
    GpuSpec,
    HourlyMarket,
    MiningSpec,
    Site,
    Switching,
)
from hashmarket.operations.fleet import Fleet, FleetLine, Machine
from hashmarket.specfile import field_path, read_document

# --------------------------------------------------------------------------------------------
# Site
# --------------------------------------------------------------------------------------------

SITE_FIELDS = {
    "name",
    "description",
    "power_capacity_mw",
    "mining",
    "gpu",
    "ai_contracts",
    "switching",
    "demand_response_usd_per_mwh",
    "market",
}
MINING_FIELDS = {"fleet", "pool_fee_fraction", "variable_cost_usd_per_mwh"}
LINE_FIELDS = {"machine", "hashrate_ths", "power_w", "count"}
GPU_FIELDS = {"model", "count", "power_w_per_gpu", "load_rate", "variable_cost_usd_per_mwh"}
CONTRACT_FIELDS = {
    "name",
    "price_usd_per_gpu_hour",
    "term_hours",
    "gpus_min",
    "gpus_max",
    "start",
    "end",
}
SWITCHING_FIELDS = {"mining_usd_per_mw", "ai_usd_per_mw", "ramp_limit_mw_per_hour"}
MARKET_FIELDS = {"hashprice_usd_per_ph_day", "gpu_price_usd_per_gpu_hour"}


class _Reader:
    """Pulls typed fields out of parsed JSON, naming the field path in every refusal."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, field: str, problem: str) -> DataError:
        return DataError("site_field", location=Location(self.path), field=field, problem=problem)

    def obj(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, f"must be an object, got {json.dumps(value)}")
        unknown = sorted(set(value) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed))
            raise self.fail(field_path(field, unknown[0]), f"unknown field (known: {known})")
        return value

    def number(
        self,
        data: dict[str, Any],
        key: str,
        field: str,
        *,
        default: float | None = None,
        minimum: float | None = 0.0,
        strict: bool = False,
        maximum: float | None = None,
        maximum_inclusive: bool = True,
    ) -> float:
        name = field_path(field, key)
        if key not in data:
            if default is None:
                raise self.fail(name, "missing")
            return default
        value = data[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(name, f"must be a number, got {json.dumps(value)}")
        if minimum is not None and (value <= minimum if strict else value < minimum):
            op = ">" if strict else ">="
            raise self.fail(name, f"must be {op} {minimum:g}, got {value}")
        if maximum is not None and (value > maximum if maximum_inclusive else value >= maximum):
            op = "<=" if maximum_inclusive else "<"
            raise self.fail(name, f"must be {op} {maximum:g}, got {value}")
        return float(value)

    def integer(
        self,
        data: dict[str, Any],
        key: str,
        field: str,
        *,
        default: int | None = None,
        minimum: int = 0,
    ) -> int:
        name = field_path(field, key)
        if key not in data:
            if default is None:
                raise self.fail(name, "missing")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, f"must be a whole number, got {json.dumps(value)}")
        if value < minimum:
            raise self.fail(name, f"must be >= {minimum}, got {value}")
        return value

    def text(
        self, data: dict[str, Any], key: str, field: str, *, default: str | None = None
    ) -> str:
        name = field_path(field, key)
        if key not in data:
            if default is None:
                raise self.fail(name, "missing")
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, f"must be a non-empty string, got {json.dumps(value)}")
        return value.strip()

    def time_s(self, data: dict[str, Any], key: str, field: str) -> int | None:
        if key not in data or data[key] is None:
            return None
        raw = data[key]
        try:
            moment = dt.datetime.strptime(str(raw), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            raise self.fail(
                field_path(field, key), f"not a UTC time YYYY-MM-DDTHH:MM:SSZ: {raw!r}"
            ) from None
        return int(moment.timestamp())


def parse_site(data: Any, *, path: str = "<site>") -> Site:
    """A :class:`Site` from parsed JSON; refuses unknown or missing fields by name."""
    r = _Reader(path)
    top = r.obj(data, "", SITE_FIELDS)
    name = r.text(top, "name", "")
    capacity = r.number(top, "power_capacity_mw", "", strict=True)
    mining = _mining(r, top["mining"]) if "mining" in top else None
    gpu = _gpu(r, top["gpu"]) if "gpu" in top else None
    raw_contracts = top.get("ai_contracts", [])
    if not isinstance(raw_contracts, list):
        raise r.fail("ai_contracts", "must be a list")
    contracts = tuple(
        _contract(r, c, field_path("ai_contracts", i)) for i, c in enumerate(raw_contracts)
    )
    switching = _switching(r, top.get("switching", {}))
    market = r.obj(top.get("market", {}), "market", MARKET_FIELDS)
    hashprice = (
        r.number(market, "hashprice_usd_per_ph_day", "market")
        if "hashprice_usd_per_ph_day" in market
        else None
    )
    gpu_price = (
        r.number(market, "gpu_price_usd_per_gpu_hour", "market")
        if "gpu_price_usd_per_gpu_hour" in market
        else None
    )
    site = Site(
        name=name,
        power_capacity_mw=capacity,
        mining=mining,
        gpu=gpu,
        contracts=contracts,
        switching=switching,
        hashprice_usd_per_ph_day=hashprice,
        gpu_price_usd_per_gpu_hour=gpu_price,
        demand_response_usd_per_mwh=r.number(top, "demand_response_usd_per_mwh", "", default=0.0),
    )
    _check_feasible(r, site)
    return site


def _mining(r: _Reader, raw: Any) -> MiningSpec:
    data = r.obj(raw, "mining", MINING_FIELDS)
    fleet_raw = data.get("fleet")
    if not isinstance(fleet_raw, list) or not fleet_raw:
        raise r.fail("mining.fleet", "must be a non-empty list of {machine, count}")
    catalogue = load_catalogue()
    lines = []
    for i, raw_line in enumerate(fleet_raw):
        field = field_path("mining", "fleet", i)
        line = r.obj(raw_line, field, LINE_FIELDS)
        count = r.integer(line, "count", field, minimum=1)
        if "machine" in line:
            if "hashrate_ths" in line or "power_w" in line:
                raise r.fail(field, "give either machine or hashrate_ths with power_w")
            try:
                machine = catalogue.get(r.text(line, "machine", field))
            except HashmarketError as exc:
                raise r.fail(field_path(field, "machine"), exc.problem) from None
        else:
            machine = Machine.custom(
                hashrate_ths=r.number(line, "hashrate_ths", field, strict=True),
                power_w=r.number(line, "power_w", field, strict=True),
                model=f"custom {i}",
            )
        lines.append(FleetLine(machine, count))
    return MiningSpec(
        fleet=Fleet(tuple(lines)),
        pool_fee_fraction=r.number(
            data, "pool_fee_fraction", "mining", default=0.0, maximum=1.0, maximum_inclusive=False
        ),
        variable_cost_usd_per_mwh=r.number(
            data, "variable_cost_usd_per_mwh", "mining", default=0.0
        ),
    )


def _gpu(r: _Reader, raw: Any) -> GpuSpec:
    data = r.obj(raw, "gpu", GPU_FIELDS)
    if "model" in data:
        r.text(data, "model", "gpu")
    return GpuSpec(
        count=r.integer(data, "count", "gpu", minimum=1),
        power_w_per_gpu=r.number(data, "power_w_per_gpu", "gpu", strict=True),
        load_rate=r.number(data, "load_rate", "gpu", default=1.0, strict=True, maximum=1.0),
        variable_cost_usd_per_mwh=r.number(data, "variable_cost_usd_per_mwh", "gpu", default=0.0),
    )


def _contract(r: _Reader, raw: Any, field: str) -> AiContract:
    data = r.obj(raw, field, CONTRACT_FIELDS)
    gpus_min = r.integer(data, "gpus_min", field, default=0)
    gpus_max = r.integer(data, "gpus_max", field, minimum=max(gpus_min, 1))
    start, end = r.time_s(data, "start", field), r.time_s(data, "end", field)
    if start is not None and end is not None and end <= start:
        raise r.fail(field_path(field, "end"), "must be after start")
    return AiContract(
        name=r.text(data, "name", field, default=field),
        price_usd_per_gpu_hour=r.number(data, "price_usd_per_gpu_hour", field),
        term_hours=r.integer(data, "term_hours", field, minimum=1),
        gpus_min=gpus_min,
        gpus_max=gpus_max,
        start_s=start,
        end_s=end,
    )


def _switching(r: _Reader, raw: Any) -> Switching:
    data = r.obj(raw, "switching", SWITCHING_FIELDS)
    ramp = data.get("ramp_limit_mw_per_hour")
    return Switching(
        mining_usd_per_mw=r.number(data, "mining_usd_per_mw", "switching", default=0.0),
        ai_usd_per_mw=r.number(data, "ai_usd_per_mw", "switching", default=0.0),
        ramp_limit_mw_per_hour=None
        if ramp is None
        else r.number(data, "ramp_limit_mw_per_hour", "switching", strict=True),
    )


def _check_feasible(r: _Reader, site: Site) -> None:
    """Contracts' minimums must fit the GPUs and the connection, or no plan exists."""
    if site.contracts and site.gpu is None:
        raise r.fail("ai_contracts", "AI contracts need a 'gpu' section")
    if site.gpu is None:
        return
    committed = sum(c.gpus_min for c in site.contracts)
    if committed > site.gpu.count:
        raise r.fail(
            "ai_contracts",
            f"the contracts' gpus_min add up to {committed}, more than gpu.count {site.gpu.count}",
        )
    committed_mw = committed * site.gpu.mw_per_gpu
    if committed_mw > site.power_capacity_mw:
        raise r.fail(
            "ai_contracts",
            f"the contracts' gpus_min draw {committed_mw:g} MW, more than power_capacity_mw "
            f"{site.power_capacity_mw:g}",
        )


def read_site(path: Path | str) -> Site:
    """The site described in the JSON file ``path``."""
    data, location = read_document(path, what="site description", error=DataError, yaml_ok=False)
    return parse_site(data, path=location.file)


# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------

PRICE_COLUMN = "price_usd_per_mwh"
PRICES_SCHEMA = Schema(
    columns=(
        Column("time_utc", "timestamp", blank_ok=False),
        # Text here, parsed below: csvfile refuses negative numbers, and power prices go
        # below zero in real markets.
        Column(PRICE_COLUMN, "text", blank_ok=False),
        Column("hashprice_usd_per_ph_day", "float", blank_ok=False),
        Column("gpu_price_usd_per_gpu_hour", "float", blank_ok=False),
        Column("demand_response_usd_per_mwh", "float", blank_ok=False),
    ),
    key="time_utc",
    exact=False,
)


def read_prices(path: Path | str, site: Site, *, display_name: str | None = None) -> HourlyMarket:
    """Hourly prices for ``site``: ``time_utc, price_usd_per_mwh`` and, optionally, per-hour
    ``hashprice_usd_per_ph_day``, ``gpu_price_usd_per_gpu_hour`` and
    ``demand_response_usd_per_mwh`` (otherwise the site's ``market`` values)."""
    name = display_name or str(path)
    table = read_csv(path, PRICES_SCHEMA, display_name=name)
    columns = table.columns
    if PRICE_COLUMN not in columns:
        raise DataError(
            "csv_missing_column",
            location=Location(name, 1),
            column=PRICE_COLUMN,
            expected=", ".join(PRICES_SCHEMA.names),
        )
    if not len(table):
        raise DataError("no_values", location=Location(name))
    times = np.array(columns["time_utc"], dtype=np.int64)
    prices = _power_prices(table, name)
    _check_hourly(times, table.lines, name)
    n = len(times)

    def column(key: str, default: float | None, needed: bool, what: str, field: str) -> np.ndarray:
        if key in columns:
            return np.array(columns[key], dtype=np.float64)
        if default is None:
            if needed:
                raise DataError(
                    "needs_market_value",
                    location=Location(name),
                    what=what,
                    column=key,
                    field=field,
                )
            return np.zeros(n)
        return np.full(n, default)

    return HourlyMarket(
        time_s=times,
        power_price_usd_per_mwh=prices,
        hashprice_usd_per_ph_day=column(
            "hashprice_usd_per_ph_day",
            site.hashprice_usd_per_ph_day,
            site.mining is not None,
            "hashprice",
            "market.hashprice_usd_per_ph_day",
        ),
        gpu_price_usd_per_gpu_hour=column(
            "gpu_price_usd_per_gpu_hour",
            site.gpu_price_usd_per_gpu_hour,
            site.gpu is not None,
            "GPU-hour price",
            "market.gpu_price_usd_per_gpu_hour",
        ),
        demand_response_usd_per_mwh=column(
            "demand_response_usd_per_mwh",
            site.demand_response_usd_per_mwh,
            False,
            "demand-response payment",
            "demand_response_usd_per_mwh",
        ),
    )


def _power_prices(table: Table, name: str) -> npt.NDArray[np.float64]:
    """The power price column as numbers (negative prices allowed, non-finite refused)."""
    raws, lines = table.columns[PRICE_COLUMN], table.lines
    prices = np.empty(len(raws))
    for i, raw in enumerate(raws):
        try:
            value = float(raw)
        except ValueError:
            raise DataError(
                "bad_number", location=Location(name, lines[i], PRICE_COLUMN, raw)
            ) from None
        if not math.isfinite(value):
            raise DataError("not_finite", location=Location(name, lines[i], PRICE_COLUMN, raw))
        prices[i] = value
    return prices


def _check_hourly(times: npt.NDArray[np.int64], lines: Sequence[int], name: str) -> None:
    """Every time on the hour, and one hour after the one before: no gaps."""
    off_hour = np.flatnonzero(times % SECONDS_PER_HOUR)
    if len(off_hour):
        i = int(off_hour[0])
        raw = _iso(int(times[i]))
        raise DataError("prices_not_hourly", location=Location(name, lines[i], "time_utc", raw))
    steps = np.diff(times) // SECONDS_PER_HOUR
    gap = np.flatnonzero(steps != 1)
    if len(gap):
        i = int(gap[0]) + 1
        raise DataError(
            "prices_gap",
            location=Location(name, lines[i], "time_utc", _iso(int(times[i]))),
            missing=int(steps[i - 1] - 1),
            previous=_iso(int(times[i - 1])),
        )


def _iso(time_s: int) -> str:
    return dt.datetime.fromtimestamp(time_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
