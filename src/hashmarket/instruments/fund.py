"""A hashrate fund (an exchange-traded product): its terms, as a spec file declares them.

The fund holds the tokens of one hashrate token series and the BTC they pay; its shares are a
ledger asset of the fund. Authorised participants create shares by delivering a basket of
tokens and BTC and redeem them for the same, at the net asset value (NAV) of the dealing day.
The terms here are everything that decides those numbers; the NAV arithmetic is in
:mod:`hashmarket.pricing.fund`, the booking in :mod:`hashmarket.ledger.fund`.

A spec (JSON or YAML)::

    {"type": "hashrate_fund", "fund": "HFUND", "token_series": "HT1",
     "launch_day": "2025-01-03", "creation_unit_shares": 1000,
     "seed_tokens_per_unit": 100, "seed_sats_per_unit": 50000,
     "management_fee_rate": "0.0095", "cutoff_utc": "16:00", "income": "accumulate",
     "mark_discount_rate": "0.05", "share_issuer_account_id": 500,
     "token_account_id": 501, "btc_account_id": 502, "manager_account_id": 503}
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from hashmarket.errors import SpecError
from hashmarket.money import exact
from hashmarket.specfile import located, read_document

FUND_TYPE = "hashrate_fund"
_INT64_MAX = 2**63 - 1


class FundIncome(enum.StrEnum):
    """What the fund does with the BTC its tokens pay: pay it out to the shareholders at
    each day's strike, or keep it (the NAV grows by it)."""

    DISTRIBUTE = "distribute"
    ACCUMULATE = "accumulate"


@dataclass(frozen=True, kw_only=True)
class FundTerms:
    """The fund's terms. Amounts of shares and tokens are in their assets' smallest units
    (shares are whole: the share asset has scale 0); BTC in sats.

    * ``creation_unit_shares`` — N: shares are created and redeemed only in whole creation
      units of N shares;
    * ``seed_tokens_per_unit`` / ``seed_sats_per_unit`` — the basket of the first creation,
      when no share is outstanding and there is no NAV to divide;
    * ``management_fee_rate`` — annual fraction of NAV; each day accrues rate / 365 of it;
    * ``cutoff_utc`` — orders received before this time of a day deal at that day's NAV,
      later ones at the next day's;
    * ``mark_discount_rate`` — the continuously compounded annual rate (BTC) at which a
      token's remaining payouts are discounted in its mark.
    """

    type_name: ClassVar[str] = FUND_TYPE

    fund: str
    token_series: str
    launch_day: dt.date
    creation_unit_shares: int
    seed_tokens_per_unit: int
    seed_sats_per_unit: int
    management_fee_rate: Decimal
    cutoff_utc: dt.time
    income: FundIncome
    mark_discount_rate: Decimal
    share_issuer_account_id: int
    token_account_id: int
    btc_account_id: int
    manager_account_id: int

    def __post_init__(self) -> None:
        for name in ("fund", "token_series"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise SpecError("spec_bad_type", field=name, value=value, expected="an asset code")
        if not isinstance(self.launch_day, dt.date):
            raise SpecError(
                "spec_bad_type", field="launch_day", value=self.launch_day, expected="a date"
            )
        positive = ("creation_unit_shares", "seed_tokens_per_unit", *_ACCOUNT_FIELDS)
        for name in (*positive, "seed_sats_per_unit"):
            value = getattr(self, name)
            if type(value) is not int:
                raise SpecError("spec_bad_type", field=name, value=value, expected="an integer")
            if value < 0 or (value == 0 and name in positive):
                key = "spec_not_positive" if name in positive else "spec_negative"
                raise SpecError(key, field=name, value=value)
            if value > _INT64_MAX:  # ids and amounts are the ledger's 64-bit integers
                raise SpecError("spec_out_of_range", field=name, value=value, bound="below 2**63")
        accounts = [getattr(self, name) for name in _ACCOUNT_FIELDS]
        if len(set(accounts)) != len(accounts):
            raise SpecError(
                "spec_out_of_range",
                field="token_account_id",
                value=accounts,
                bound="four different accounts",
            )
        for name in ("management_fee_rate", "mark_discount_rate"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise SpecError("spec_bad_type", field=name, value=value, expected="a number")
            if not Decimal(0) <= value < Decimal(1):
                raise SpecError(
                    "spec_out_of_range",
                    field=name,
                    value=str(value),
                    bound="at least 0 and below 1",
                )
        if not isinstance(self.cutoff_utc, dt.time) or self.cutoff_utc.tzinfo is not None:
            raise SpecError(
                "spec_bad_type",
                field="cutoff_utc",
                value=self.cutoff_utc,
                expected="a time of day HH:MM (UTC)",
            )
        if not isinstance(self.income, FundIncome):
            raise SpecError(
                "spec_unknown_choice",
                field="income",
                value=self.income,
                known=[i.value for i in FundIncome],
            )

    def dealing_day(self, received_at: dt.datetime) -> dt.date:
        """The day whose NAV an order received at ``received_at`` (UTC) deals at: its own
        day if received before the cut-off, else the next day."""
        if received_at.tzinfo is None:
            raise SpecError(
                "spec_bad_type",
                field="received_at",
                value=str(received_at),
                expected="a time with its UTC offset",
            )
        utc = received_at.astimezone(dt.UTC)
        day = utc.date()
        if utc.time() < self.cutoff_utc:
            return day
        if day == dt.date.max:
            raise SpecError(
                "spec_out_of_range",
                field="received_at",
                value=str(received_at),
                bound="before the last day of the calendar",
            )
        return day + dt.timedelta(days=1)

    def to_spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": FUND_TYPE}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, dt.time):
                value = value.strftime("%H:%M")
            elif isinstance(value, Decimal | FundIncome):
                value = str(value)
            out[f.name] = value
        return out


_ACCOUNT_FIELDS = (
    "share_issuer_account_id",
    "token_account_id",
    "btc_account_id",
    "manager_account_id",
)


def _field(spec: Mapping[str, Any], name: str, parse: Any, expected: str) -> Any:
    if name not in spec:
        raise SpecError("spec_missing_field", field=name, type=FUND_TYPE)
    value = spec[name]
    try:
        return parse(value)
    except (TypeError, ValueError):
        raise SpecError("spec_bad_type", field=name, value=value, expected=expected) from None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(value)
    return exact(value)


def _date(value: Any) -> dt.date:
    if not isinstance(value, str | dt.date) or isinstance(value, dt.datetime):
        raise ValueError(value)
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _time(value: Any) -> dt.time:
    if not isinstance(value, str) or len(value) != 5:
        raise ValueError(value)
    return dt.time.fromisoformat(value)


def _same(value: Any) -> Any:
    return value


def parse_fund_spec(spec: Any) -> FundTerms:
    """A fund spec mapping → :class:`FundTerms`, or a :class:`SpecError` naming the field."""
    if not isinstance(spec, Mapping):
        raise SpecError("spec_not_mapping", value=spec)
    if spec.get("type") != FUND_TYPE:
        raise SpecError("spec_unknown_type", value=spec.get("type"), known=[FUND_TYPE])
    known = {f.name for f in fields(FundTerms)} | {"type", "note"}
    for name in spec:
        if name not in known:
            raise SpecError("spec_unknown_field", field=name, value=spec[name], known=sorted(known))
    income = _field(spec, "income", _same, "a choice")
    if income not in {i.value for i in FundIncome}:
        raise SpecError(
            "spec_unknown_choice", field="income", value=income, known=[i.value for i in FundIncome]
        )
    return FundTerms(
        fund=_field(spec, "fund", _same, "an asset code"),
        token_series=_field(spec, "token_series", _same, "an asset code"),
        launch_day=_field(spec, "launch_day", _date, "a date YYYY-MM-DD"),
        creation_unit_shares=_field(spec, "creation_unit_shares", _same, "an integer"),
        seed_tokens_per_unit=_field(spec, "seed_tokens_per_unit", _same, "an integer"),
        seed_sats_per_unit=_field(spec, "seed_sats_per_unit", _same, "an integer"),
        management_fee_rate=_field(spec, "management_fee_rate", _decimal, "a number"),
        cutoff_utc=_field(spec, "cutoff_utc", _time, "a time of day HH:MM (UTC)"),
        income=FundIncome(income),
        mark_discount_rate=_field(spec, "mark_discount_rate", _decimal, "a number"),
        **{name: _field(spec, name, _same, "an account id") for name in _ACCOUNT_FIELDS},
    )


def load_fund_spec(path: Path | str) -> FundTerms:
    """Read a fund spec file (JSON or YAML); errors name the file."""
    document, location = read_document(path, what="fund spec", error=SpecError)
    with located(location):
        return parse_fund_spec(document)
