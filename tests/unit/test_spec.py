"""Instrument specs: every example parses and round-trips; bad specs are refused with the
field and the value named."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hashmarket.errors import SpecError
from hashmarket.instruments import (
    INSTRUMENT_TYPES,
    HashpriceForward,
    HashrateToken,
    load_spec,
    parse_spec,
    to_spec,
)

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "specs").glob("*.*"))
FORWARD: dict[str, Any] = {
    "type": "hashprice_forward",
    "notional_phs": 10,
    "fixed_price_per_ph_day": 38.0,
    "currency": "usd",
    "start": "2026-03-01",
    "end": "2026-03-31",
}


def test_there_is_an_example_of_every_instrument_type() -> None:
    types = {load_spec(p).type_name for p in EXAMPLES}
    assert types == set(INSTRUMENT_TYPES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse_and_round_trip(path: Path) -> None:
    instrument = load_spec(path)
    spec = to_spec(instrument)
    assert parse_spec(json.loads(json.dumps(spec))) == instrument


def test_forward_spec_builds_the_dataclass() -> None:
    fwd = parse_spec(FORWARD)
    assert fwd == HashpriceForward(
        notional_phs=10.0,
        fixed_price_per_ph_day=38.0,
        start=dt.date(2026, 3, 1),
        end=dt.date(2026, 3, 31),
    )


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"notional": 5}, "notional", "5"),
        ({"notional_phs": -10}, "notional_phs", "-10"),
        ({"end": "2026-02-01"}, "end", "2026-02-01"),
        ({"currency": "eur"}, "currency", "eur"),
        ({"start": "first of March"}, "start", "first of March"),
        ({"fixed_price_per_ph_day": "38"}, "fixed_price_per_ph_day", "38"),
        ({"side": "long"}, "side", "long"),
        ({"type": "hashprice_swaption"}, "type", "hashprice_swaption"),
    ],
)
def test_bad_specs_name_the_field_and_value(change: dict[str, Any], field: str, value: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec({**FORWARD, **change})
    message = str(caught.value)
    assert repr(field) in message or field in message
    assert value in message
    assert caught.value.fields["field"] == field
    assert caught.value.exit_code == 65


def test_missing_field_is_named() -> None:
    spec = dict(FORWARD)
    del spec["notional_phs"]
    with pytest.raises(SpecError, match="'notional_phs': missing"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="must be a mapping"):
        parse_spec([FORWARD])


def test_files_name_themselves_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "type: hashprice_forward\nnotional_phs: -1\nfixed_price_per_ph_day: 38\n"
        "start: 2026-03-01\nend: 2026-03-31\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=r"bad\.yaml: field 'notional_phs'"):
        load_spec(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.json:1: not a JSON or YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match=r"missing\.json: file not found"):
        load_spec(tmp_path / "missing.json")


def test_yaml_dates_and_comments_are_read(tmp_path: Path) -> None:
    path = tmp_path / "fwd.yml"
    path.write_text(
        "# a comment\ntype: hashprice_forward\nnotional_phs: 10\nfixed_price_per_ph_day: 38\n"
        "start: 2026-03-01\nend: 2026-03-31\n",
        encoding="utf-8",
    )
    assert load_spec(path) == parse_spec(FORWARD)


def test_load_spec_takes_a_path_or_a_string() -> None:
    path = EXAMPLES[0]
    assert load_spec(str(path)) == load_spec(path)
    with pytest.raises(SpecError, match=r"no-such-spec\.json"):
        load_spec("no-such-spec.json")


TOKEN: dict[str, Any] = {
    "type": "hashrate_token",
    "ths_per_token": 100,
    "start": "2026-03-01",
    "end": "2027-02-28",
    "efficiency_w_per_th": 15,
    "power_price_usd_per_kwh": 0.05,
    "service_fee_usd_per_th_day": "0.0089",
}


def test_token_terms_are_read_as_exact_decimals() -> None:
    token = parse_spec(TOKEN)
    assert isinstance(token, HashrateToken)
    # 0.05 is five hundredths (its shortest digits), not the binary float's expansion.
    assert token.power_price_usd_per_kwh == Decimal("0.05")
    assert token.service_fee_usd_per_th_day == Decimal("0.0089")
    written = to_spec(token)
    assert (written["ths_per_token"], written["power_price_usd_per_kwh"]) == (100, 0.05)
    assert parse_spec(written) == token
    with pytest.raises(SpecError, match="'power_price_usd_per_kwh': value 'cheap' is not a number"):
        parse_spec({**TOKEN, "power_price_usd_per_kwh": "cheap"})


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("hashrate_ths", "ths_per_token"),
        ("electricity_usd_per_kwh", "power_price_usd_per_kwh"),
        ("discount", "maintenance_discount"),
    ],
)
def test_renamed_token_fields_are_refused_with_their_new_name(old: str, new: str) -> None:
    spec = {**TOKEN, old: 1}
    with pytest.raises(SpecError, match=f"field '{old}' \\(value 1\\): renamed '{new}'"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="a day whose costs exceed its reward pays 0"):
        parse_spec({**TOKEN, "pause_when_unprofitable": True})
