"""The JSON/YAML forms of a portfolio, a miner profile and a loan (or leveraged position).

Portfolio::

    {"name": "desk book",
     "positions": [
       {"name": "BTC inventory", "kind": "spot_btc", "quantity": 25},
       {"name": "Mar forward", "kind": "instrument", "quantity": 1,
        "instrument": {"type": "hashprice_forward", ...}},          # or "spec": "file.json"
       {"name": "tokens", "kind": "token", "quantity": 500,
        "token": {"hashrate_ths": 100, "start": ..., ...}},        # a hashrate_token spec
       {"name": "miner loan", "kind": "loan", "side": "lender", "loan": {...a loan...}}]}

Miner profile: the fields of :class:`~hashmarket.risk.hedging.MinerProfile`, plus optional
``coverage`` and ``pricing`` (``forward_spread``, ``option_markup``).

Lending: ``{"type": "loan", ...}``, ``{"type": "deliverable_forward", ...}`` or
``{"type": "leveraged_btc", ...}``; a loan's LTV levels are given (``ltv``: initial,
margin_call, liquidation) or made from the collateral's history by the haircut policy
(``haircut``: the fields of :class:`~hashmarket.risk.credit.HaircutPolicy`).

Errors name the file and the field's path (``positions[2].instrument.notional_phs``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hashmarket.errors import Location, RiskError, SpecError
from hashmarket.index import LendingCurrency, Tenor
from hashmarket.instruments import (
    Collateral,
    CollateralKind,
    FloatingRate,
    HashrateToken,
    Instrument,
    Loan,
    deliverable_forward,
    load_spec,
    parse_spec,
)
from hashmarket.money import exact
from hashmarket.risk.credit import HaircutPolicy, LtvLevels, TailModel
from hashmarket.risk.hedging import HedgePricing, MinerProfile
from hashmarket.risk.inputs import Reader
from hashmarket.risk.leverage import LeveragedBtc
from hashmarket.risk.machine_specs import parse_machine
from hashmarket.risk.portfolio import Portfolio, Position, PositionKind
from hashmarket.specfile import read_document

# A loan whose LTV levels come from history asks the caller for them (the CLI calibrates on
# the network history as of the valuation date).
LevelsFor = Callable[[CollateralKind, HaircutPolicy], LtvLevels]
# A floating loan asks the caller for its rate resets (the CLI and the API compute the lending
# reference rate's fixings from the transactions and loan book they hold).
RatesFor = Callable[[FloatingRate, dt.date, dt.date], FloatingRate]
T = TypeVar("T")


def _instrument(reader: Reader, name: str, base_dir: Path | None) -> Instrument:
    value = reader.raw(name)
    try:
        if isinstance(value, str):
            path = Path(value) if base_dir is None else base_dir / value
            return load_spec(path)
        return parse_spec(value)
    except SpecError as exc:
        raise RiskError(
            "risk_field", location=reader.location, field=reader.path(name), problem=exc.problem
        ) from None


def _token(reader: Reader, name: str) -> HashrateToken:
    value = dict(reader.mapping(name).data)
    value.setdefault("type", "hashrate_token")
    if value["type"] != "hashrate_token":
        raise reader.fail(f"{name}.type", "must be 'hashrate_token'")
    try:
        token = parse_spec(value)
    except SpecError as exc:
        raise RiskError(
            "risk_field", location=reader.location, field=reader.path(name), problem=exc.problem
        ) from None
    assert isinstance(token, HashrateToken)
    return token


def parse_portfolio(
    document: Any,
    *,
    location: Location | None = None,
    base_dir: Path | None = None,
    levels_for: LevelsFor | None = None,
) -> Portfolio:
    top = Reader.of(document, what="portfolio", location=location)
    top.only("name", "positions", "description")
    positions = []
    for item in top.items("positions"):
        item.only(
            "name", "kind", "quantity", "instrument", "spec", "token", "loan", "side", "notes"
        )
        name = item.text("name")
        kind = PositionKind(item.choice("kind", tuple(k.value for k in PositionKind)))
        instrument: Instrument | Loan | None = None
        if kind is PositionKind.SPOT_BTC:
            quantity = item.number("quantity")
        elif kind is PositionKind.INSTRUMENT:
            quantity = item.number("quantity", 1.0)
            if item.has("instrument") == item.has("spec"):
                raise item.fail("instrument", "give exactly one of 'instrument' or 'spec'")
            instrument = _instrument(
                item, "instrument" if item.has("instrument") else "spec", base_dir
            )
        elif kind is PositionKind.TOKEN:
            quantity = item.number("quantity", positive=True)
            instrument = _token(item, "token")
        else:
            side = item.choice("side", ("lender", "borrower"), "lender")
            quantity = 1.0 if side == "lender" else -1.0
            instrument = parse_loan(item.mapping("loan"), levels_for=levels_for)
        if quantity == 0:
            raise item.fail("quantity", "must not be zero")
        try:
            positions.append(Position(name, kind, quantity, instrument))
        except RiskError as exc:
            raise RiskError(
                "risk_field",
                location=location,
                field=item.at,
                problem=exc.problem,
            ) from None
    try:
        return Portfolio(top.text("name", "portfolio"), tuple(positions))
    except RiskError as exc:
        raise RiskError(
            "risk_field", location=location, field="positions", problem=exc.problem
        ) from None


def load_portfolio(path: Path, *, levels_for: LevelsFor | None = None) -> Portfolio:
    document, location = read_document(path, what="portfolio", error=RiskError)
    return parse_portfolio(document, location=location, base_dir=path.parent, levels_for=levels_for)


# ---- loans and leverage --------------------------------------------------------------------


def parse_policy(reader: Reader | None) -> HaircutPolicy:
    if reader is None:
        return HaircutPolicy()
    names = [f.name for f in dataclasses.fields(HaircutPolicy)]
    reader.only(*names)
    kwargs: dict[str, Any] = {}
    for name in names:
        if not reader.has(name):
            continue
        if name == "tail":
            kwargs[name] = TailModel(reader.choice(name, tuple(t.value for t in TailModel)))
        elif name == "window_days":
            kwargs[name] = reader.integer(name, minimum=30)
        else:
            kwargs[name] = reader.number(name)
    try:
        return HaircutPolicy(**kwargs)
    except RiskError as exc:
        raise RiskError(
            "risk_field",
            location=reader.location,
            field=reader.path(str(exc.fields.get("field", "haircut"))),
            problem=exc.fields.get("problem", exc.problem),
        ) from None


def _levels(
    reader: Reader, kind: CollateralKind, levels_for: LevelsFor | None
) -> tuple[float, float, float, HaircutPolicy]:
    policy = parse_policy(reader.mapping("haircut") if reader.has("haircut") else None)
    if reader.has("ltv"):
        ltv = reader.mapping("ltv")
        ltv.only("initial", "margin_call", "liquidation")
        return (
            ltv.number("initial", minimum=0.0, maximum=1.0),
            ltv.number("margin_call", minimum=0.0, maximum=1.0),
            ltv.number("liquidation", minimum=0.0, maximum=1.0),
            policy,
        )
    if levels_for is None:
        raise reader.fail("ltv", "missing (no history to make the levels from a haircut)")
    if kind is CollateralKind.MACHINES:
        # A machine's value is hashprice with leverage R / (R − C): a haircut on hashprice's
        # own volatility would understate it.
        raise reader.fail("ltv", "missing (machine collateral needs its LTV levels given)")
    levels = levels_for(kind, policy)
    return levels.initial_ltv, levels.margin_call_ltv, levels.liquidation_ltv, policy


def _collateral(reader: Reader) -> Collateral:
    c = reader.mapping("collateral")
    c.only("kind", "quantity", "token", "machine")
    kind = CollateralKind(c.choice("kind", ("btc", "token", "machines")))
    token = _token(c, "token") if kind is CollateralKind.TOKEN else None
    if kind is not CollateralKind.TOKEN and c.has("token"):
        raise c.fail("token", "only token collateral has token terms")
    if kind is not CollateralKind.MACHINES and c.has("machine"):
        raise c.fail("machine", "only machine collateral has machine terms")
    machine = parse_machine(c.mapping("machine")) if kind is CollateralKind.MACHINES else None
    return Collateral(kind, c.number("quantity", positive=True), token, machine)


LOAN_FIELDS = (
    "type",
    "loan_id",
    "principal_usd",
    "rate_per_year",
    "start",
    "maturity",
    "collateral",
    "ltv",
    "haircut",
    "liquidation_cost",
    "liquidation_days",
    "cure_days",
    "borrower_cures",
    "horizon_days",
    "floating",
    "principal_btc",
)
FORWARD_FIELDS = (
    "type",
    "loan_id",
    "hashrate_phs",
    "price_usd_per_ph_day",
    "start",
    "maturity",
    "margin",
    "ltv",
    "haircut",
    "liquidation_cost",
    "liquidation_days",
    "cure_days",
    "borrower_cures",
    "horizon_days",
)


def _common_terms(reader: Reader) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    if reader.has("liquidation_days"):
        terms["liquidation_days"] = reader.integer("liquidation_days", minimum=0)
    if reader.has("cure_days"):
        terms["cure_days"] = reader.integer("cure_days", minimum=0)
    if reader.has("borrower_cures"):
        terms["borrower_cures"] = reader.boolean("borrower_cures")
    return terms


def _wrap(reader: Reader, build: Callable[[], T]) -> T:
    try:
        return build()
    except RiskError as exc:
        if exc.location is not None:
            raise
        raise RiskError(
            "risk_field",
            location=reader.location,
            field=reader.path(str(exc.fields.get("field", "loan"))),
            problem=str(exc.fields.get("problem", exc.problem)),
        ) from None


def _floating(reader: Reader, rates_for: RatesFor | None) -> FloatingRate:
    """A loan's ``floating`` mapping (tenor, spread, currency), with its resets."""
    if reader.has("rate_per_year"):
        raise reader.fail(
            "rate_per_year", "a floating loan's rate is the reference rate plus the spread"
        )
    f = reader.mapping("floating")
    f.only("tenor", "spread_per_year", "currency")
    floating = FloatingRate(
        tenor=Tenor(f.choice("tenor", tuple(t.value for t in Tenor))),
        spread_per_year=exact(f.number("spread_per_year")),
        currency=LendingCurrency(f.choice("currency", ("usd",), "usd")),
    )
    if rates_for is None:
        raise reader.fail("floating", "needs the lending reference rate's fixings")
    start, maturity = reader.date("start"), reader.date("maturity")
    try:
        return rates_for(floating, start, maturity)
    except RiskError as exc:
        raise reader.fail("floating", exc.problem) from None


def parse_loan(
    reader: Reader, *, levels_for: LevelsFor | None = None, rates_for: RatesFor | None = None
) -> Loan:
    """A ``loan`` or a ``deliverable_forward`` mapping."""
    kind = reader.choice("type", ("loan", "deliverable_forward"), "loan")
    if kind == "deliverable_forward":
        reader.only(*FORWARD_FIELDS)
        terms = _common_terms(reader)
        if reader.has("liquidation_cost"):
            terms["liquidation_cost"] = reader.number("liquidation_cost", minimum=0.0)
        levels: LtvLevels | None = None
        margin = reader.number("margin", 0.18, minimum=0.0, maximum=1.0)
        if reader.has("ltv"):
            initial, call, liquidation, _ = _levels(reader, CollateralKind.HASHRATE_FORWARD, None)
        elif reader.has("haircut") and levels_for is not None:
            # The margin is the haircut: the upfront pays 1 − (initial LTV) of the notional.
            policy = parse_policy(reader.mapping("haircut"))
            levels = levels_for(CollateralKind.HASHRATE_FORWARD, policy)
            if not reader.has("margin"):
                margin = 1.0 - levels.initial_ltv
            terms.setdefault("liquidation_cost", policy.liquidation_cost)

        def build_forward() -> Loan:
            loan = deliverable_forward(
                loan_id=reader.text("loan_id"),
                hashrate_phs=reader.number("hashrate_phs", positive=True),
                price_usd_per_ph_day=reader.number("price_usd_per_ph_day", positive=True),
                start=reader.date("start"),
                maturity=reader.date("maturity"),
                margin=margin,
                levels=levels,
                **terms,
            )
            if reader.has("ltv"):
                return dataclasses.replace(
                    loan, initial_ltv=initial, margin_call_ltv=call, liquidation_ltv=liquidation
                )
            return loan

        forward: Loan = _wrap(reader, build_forward)
        return forward
    reader.only(*LOAN_FIELDS)
    collateral = _collateral(reader)
    initial, call, liquidation, policy = _levels(reader, collateral.kind, levels_for)
    terms = _common_terms(reader)
    terms["liquidation_cost"] = reader.number(
        "liquidation_cost", policy.liquidation_cost, minimum=0.0
    )
    if reader.has("floating"):
        terms["floating"] = _floating(reader, rates_for)
        # Shown as the loan's rate: the first period's.
        rate_per_year = float(terms["floating"].resets[0].rate_per_year)
    else:
        rate_per_year = reader.number("rate_per_year", minimum=0.0)

    def build_loan() -> Loan:
        return Loan(
            loan_id=reader.text("loan_id"),
            principal_usd=reader.number("principal_usd", positive=True),
            rate_per_year=rate_per_year,
            start=reader.date("start"),
            maturity=reader.date("maturity"),
            collateral=collateral,
            initial_ltv=initial,
            margin_call_ltv=call,
            liquidation_ltv=liquidation,
            principal_btc=reader.optional_number("principal_btc", positive=True),
            **terms,
        )

    loan: Loan = _wrap(reader, build_loan)
    return loan


@dataclass(frozen=True)
class LendingSpec:
    """What ``hashmarket loan FILE`` reads: a loan (or forward) or a leveraged position."""

    loan: Loan | None
    leverage: LeveragedBtc | None
    policy: HaircutPolicy
    horizon_days: int | None


def parse_lending(
    document: Any,
    *,
    location: Location | None = None,
    levels_for: LevelsFor | None = None,
    rates_for: RatesFor | None = None,
) -> LendingSpec:
    reader = Reader.of(document, what="loan", location=location)
    kind = reader.choice("type", ("loan", "deliverable_forward", "leveraged_btc"), "loan")
    horizon = reader.integer("horizon_days", minimum=1) if reader.has("horizon_days") else None
    if kind == "leveraged_btc":
        reader.only(
            "type",
            "name",
            "equity_usd",
            "leverage",
            "funding_rate_per_year",
            "maintenance_margin",
            "liquidation_fee",
            "horizon_days",
        )
        kwargs: dict[str, Any] = {
            "name": reader.text("name", "leveraged BTC"),
            "equity_usd": reader.number("equity_usd", positive=True),
            "leverage": reader.number("leverage"),
        }
        for name in ("funding_rate_per_year", "maintenance_margin", "liquidation_fee"):
            if reader.has(name):
                kwargs[name] = reader.number(name)
        position = _wrap(reader, lambda: LeveragedBtc(**kwargs))
        return LendingSpec(None, position, HaircutPolicy(), horizon)
    policy = parse_policy(reader.mapping("haircut") if reader.has("haircut") else None)
    loan = parse_loan(reader, levels_for=levels_for, rates_for=rates_for)
    return LendingSpec(loan, None, policy, horizon)


def load_lending(
    path: Path, *, levels_for: LevelsFor | None = None, rates_for: RatesFor | None = None
) -> LendingSpec:
    document, location = read_document(path, what="loan", error=RiskError)
    return parse_lending(document, location=location, levels_for=levels_for, rates_for=rates_for)


# ---- miner ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MinerSpec:
    profile: MinerProfile
    coverage: float
    pricing: HedgePricing


def parse_miner(document: Any, *, location: Location | None = None) -> MinerSpec:
    reader = Reader.of(document, what="miner", location=location)
    names = [f.name for f in dataclasses.fields(MinerProfile)]
    reader.only(*names, "coverage", "pricing")
    kwargs: dict[str, Any] = {"name": reader.text("name", "miner")}
    for name in names:
        if name == "name" or not reader.has(name):
            continue
        if name == "horizon_months":
            kwargs[name] = reader.integer(name, minimum=1)
        elif name in ("purchase_date", "end_of_life"):
            kwargs[name] = reader.date(name)
        else:
            kwargs[name] = reader.number(name)
    for required in ("hashrate_phs", "efficiency_j_per_th", "power_usd_per_kwh"):
        if required not in kwargs:
            raise reader.fail(required, "missing")
    kwargs.setdefault("fixed_costs_usd_per_month", 0.0)
    profile = _wrap(reader, lambda: MinerProfile(**kwargs))
    pricing = HedgePricing()
    if reader.has("pricing"):
        p = reader.mapping("pricing")
        p.only("forward_spread", "option_markup")
        pricing = _wrap(
            p,
            lambda: HedgePricing(
                forward_spread=p.number("forward_spread", 0.02),
                option_markup=p.number("option_markup", 0.10),
            ),
        )
    coverage = reader.number("coverage", 0.95, minimum=0.5, maximum=0.999)
    return MinerSpec(profile, coverage, pricing)


def with_horizon(spec: MinerSpec, horizon_months: int | None) -> MinerSpec:
    """``spec`` hedged over ``horizon_months`` instead (``None``: as it is)."""
    if horizon_months is None:
        return spec
    profile = dataclasses.replace(spec.profile, horizon_months=horizon_months)
    return dataclasses.replace(spec, profile=profile)


def load_miner(path: Path) -> MinerSpec:
    document, location = read_document(path, what="miner profile", error=RiskError)
    return parse_miner(document, location=location)
