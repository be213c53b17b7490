"""The contract interface: terms checked at construction, exact value per hash, JSON form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from hashmarket.delivery import HashpowerContract
from hashmarket.errors import SpecError
from hashmarket.money import Rounding
from tests.delivery.endpoint import START, contract


def test_one_ph_day_of_work_is_worth_the_price() -> None:
    terms = contract(price_sats_per_ph_day=4_321_987)
    assert terms.value_sats_exact(10**15 * 86_400) == 4_321_987
    # Capped at the 1,000-sat budget; the rest of the half day's value is reported unpaid.
    assert terms.payable_sats(10**15 * 86_400 // 2) == (1_000, Decimal("2159993.5"))
    # 1.5 sats of work pays 1 sat under DOWN, 2 under UP; the remainder is exact.
    one_and_a_half = Fraction(3, 2) * 10**15 * 86_400 / 4_321_987
    assert terms.payable_sats(one_and_a_half) == (1, Decimal("0.5"))
    up = contract(price_sats_per_ph_day=4_321_987, rounding=Rounding.UP)
    assert up.payable_sats(one_and_a_half) == (2, Decimal("-0.5"))


def test_ordered_work_and_exact_hashrates() -> None:
    assert contract(hashrate_ths=Decimal("2.5")).ordered_hashes(600) == 2.5e12 * 600
    assert contract(hashrate_ths=Fraction(1, 3)).ordered_hashes(3) == 10**12


def test_json_round_trip() -> None:
    terms = contract(hashrate_ths=Fraction(7, 3), rounding=Rounding.HALF_EVEN)
    assert HashpowerContract.from_dict(terms.to_dict()) == terms


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contract_id": "a b"}, "contract_id"),
        ({"buyer_account_id": 0}, "buyer_account_id"),
        ({"seller_account_id": 10}, "seller_account_id"),
        ({"budget_sats": 1.5}, "budget_sats"),
        ({"price_sats_per_ph_day": -1}, "price_sats_per_ph_day"),
        ({"hashrate_ths": 1.5}, "hashrate_ths"),
        ({"hashrate_ths": 0}, "hashrate_ths"),
        ({"end": START}, "end"),
        ({"start": dt.datetime(2025, 1, 1)}, "start"),
        ({"rounding": Rounding.CUMULATIVE_HALF_EVEN}, "rounding"),
    ],
)
def test_bad_terms_name_their_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        contract(**change)
    assert caught.value.fields["field"] == field


def test_from_dict_refuses_unknown_and_missing_fields() -> None:
    row = contract().to_dict()
    with pytest.raises(SpecError, match="field 'colour': unknown field"):
        HashpowerContract.from_dict({**row, "colour": "blue"})
    del row["budget_sats"]
    with pytest.raises(SpecError, match="field 'budget_sats': missing"):
        HashpowerContract.from_dict(row)
