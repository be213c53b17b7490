"""A hosting agreement's economics for the site and for the client: over a period of
published statements, and over scenario paths.

* **client** — what it keeps of the BTC mined (after the site's revenue share) at each day's
  price, less the power bill; its break-even hashprice is the USD hashprice at which that is
  zero: ``power_usd_per_day ÷ (TH/s ÷ 1000 × uptime × (1 − revenue_share))`` in USD/PH/day;
* **site** — the revenue share at each day's price, plus the power charged, less what the
  power costs the site itself (``site_power_cost_usd_per_kwh`` × the same kWh): the power
  spread ``kWh × (charged − own cost)`` and the share.

:func:`with_catalogue_machine` fills a spec's machine figures from the ASIC catalogue
(``machine_model``), so a spec may name a catalogue model instead of giving TH/s and J/TH.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np

from hashmarket.errors import SpecError
from hashmarket.instruments import Fixings, Hosting, HostingStatement, parse_spec
from hashmarket.operations.catalogue import Catalogue, load_catalogue
from hashmarket.units import CENTS_PER_USD, HOURS_PER_DAY, TH_PER_PH, WATTS_PER_KILOWATT

MACHINE_FIELDS = ("hashrate_ths_per_machine", "efficiency_j_per_th")
T = TypeVar("T")


def with_catalogue_machine(spec: Mapping[str, Any], catalogue: Catalogue) -> dict[str, Any]:
    """``spec`` with ``hashrate_ths_per_machine`` and ``efficiency_j_per_th`` from the
    catalogue model ``machine_model`` where the spec does not give them."""
    out = dict(spec)
    model = out.get("machine_model")
    if model is None or all(name in out for name in MACHINE_FIELDS):
        return out
    if not isinstance(model, str):
        raise SpecError("spec_bad_type", field="machine_model", value=model, expected="a string")
    machine = catalogue.get(model)
    out.setdefault("hashrate_ths_per_machine", machine.hashrate_ths)
    out.setdefault("efficiency_j_per_th", round(machine.efficiency_j_per_th, 4))
    out["machine_model"] = machine.model
    return out


def parse_contract(spec: Any, cls: type[T], catalogue: Catalogue | None = None) -> T:
    """The contract of type ``cls`` (cloud hashrate, hosting, machine lease) a spec mapping
    describes, a catalogue ``machine_model`` filling in TH/s and J/TH the spec leaves out."""
    if isinstance(spec, Mapping) and "machine_model" in spec:
        spec = with_catalogue_machine(spec, catalogue or load_catalogue())
    contract = parse_spec(spec)
    if not isinstance(contract, cls):
        expected = getattr(cls, "type_name", cls.__name__)
        raise SpecError(
            "spec_unknown_choice", field="type", value=contract.type_name, known=repr(expected)
        )
    return contract


def client_breakeven_hashprice_usd_per_ph_day(hosting: Hosting) -> float:
    """The USD hashprice at which the client's share of the output pays its power bill."""
    kwh = float(hosting.efficiency_j_per_th * hosting.hashrate_ths) * HOURS_PER_DAY
    power_usd = kwh / WATTS_PER_KILOWATT * float(hosting.power_price_usd_per_kwh)
    kept_phs = float(hosting.hashrate_ths) / TH_PER_PH * float(hosting.uptime)
    return power_usd / (kept_phs * (1 - float(hosting.revenue_share)))


@dataclass(frozen=True)
class HostingPeriod:
    """Totals of a run of daily statements (exact), and per day."""

    days: int
    mined_sats: int
    site_share_sats: int
    client_sats: int
    power_cents: int
    kwh: Decimal
    client_net_usd: Decimal
    site_margin_usd: Decimal | None
    breakeven_hashprice_usd_per_ph_day: float

    def to_dict(self) -> dict[str, Any]:
        per_day = Decimal(self.days) if self.days else Decimal(1)
        return {
            "days": self.days,
            "mined_sats": self.mined_sats,
            "site_share_sats": self.site_share_sats,
            "client_sats": self.client_sats,
            "power_cents": self.power_cents,
            "kwh": self.kwh,
            "client_net_usd": self.client_net_usd,
            "client_net_usd_per_day": self.client_net_usd / per_day,
            "site_margin_usd": self.site_margin_usd,
            "site_margin_usd_per_day": (
                None if self.site_margin_usd is None else self.site_margin_usd / per_day
            ),
            "client_breakeven_hashprice_usd_per_ph_day": self.breakeven_hashprice_usd_per_ph_day,
        }


def hosting_period(hosting: Hosting, statements: Sequence[HostingStatement]) -> HostingPeriod:
    """The client's and the site's economics over ``statements``."""
    margins = [s.site_margin_usd for s in statements]
    site = None if any(m is None for m in margins) else sum((m for m in margins if m), Decimal(0))
    return HostingPeriod(
        days=len(statements),
        mined_sats=sum(s.mined_sats for s in statements),
        site_share_sats=sum(s.site_share_sats for s in statements),
        client_sats=sum(s.client_sats for s in statements),
        power_cents=sum(s.power_cents for s in statements),
        kwh=sum((s.kwh for s in statements), Decimal(0)),
        client_net_usd=sum((s.client_net_usd for s in statements), Decimal(0)),
        site_margin_usd=site,
        breakeven_hashprice_usd_per_ph_day=client_breakeven_hashprice_usd_per_ph_day(hosting),
    )


@dataclass(frozen=True)
class HostingScenarios:
    """The agreement's economics over scenario paths, from the first simulated day to its end."""

    n_paths: int
    days: int
    client_net_usd: dict[str, float]  # mean and quantiles of the period's total
    client_loss_probability: float  # P(the period's total < 0)
    client_loss_day_fraction: float  # share of path-days the client loses money
    site_margin_usd: dict[str, float] | None
    power_charge_usd: float  # the period's bill (the same on every path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_paths": self.n_paths,
            "days": self.days,
            "client_net_usd": self.client_net_usd,
            "client_loss_probability": self.client_loss_probability,
            "client_loss_day_fraction": self.client_loss_day_fraction,
            "site_margin_usd": self.site_margin_usd,
            "power_charge_usd": self.power_charge_usd,
        }


def _summary(totals: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    q = np.quantile(totals, [0.05, 0.5, 0.95])
    return {"mean": float(totals.mean()), "p5": float(q[0]), "p50": float(q[1]), "p95": float(q[2])}


def hosting_scenarios(
    hosting: Hosting, fixings: Fixings, *, site_power_cost_usd_per_kwh: float | None = None
) -> HostingScenarios:
    """Per-path totals of the client's net and the site's margin over the agreement's days
    that ``fixings`` cover (scenario paths, e.g. :func:`hashmarket.pricing.scenario_paths`)."""
    days = fixings.overlap(hosting.start, hosting.end)
    if days is None:
        raise SpecError(
            "spec_out_of_range",
            field="end",
            value=hosting.end.isoformat(),
            bound=f"after the first scenario day {fixings.first_date}",
        )
    _, hp = fixings.window("hashprice_btc_per_ph_day", *days, instrument=hosting.type_name)
    _, price = fixings.window("price_usd", *days, instrument=hosting.type_name)
    paths = hosting.path_amounts(hashprice_btc_per_ph_day=hp, price_usd=price)
    client = paths.client_net_usd
    site = (
        None
        if site_power_cost_usd_per_kwh is None
        else _summary(paths.site_margin_usd(site_power_cost_usd_per_kwh).sum(axis=1))
    )
    n_days = client.shape[1]
    return HostingScenarios(
        n_paths=client.shape[0],
        days=n_days,
        client_net_usd=_summary(client.sum(axis=1)),
        client_loss_probability=float((client.sum(axis=1) < 0).mean()),
        client_loss_day_fraction=float((client < 0).mean()),
        site_margin_usd=site,
        power_charge_usd=round(paths.power_usd * n_days * CENTS_PER_USD) / CENTS_PER_USD,
    )
