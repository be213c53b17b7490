"""The regional margin index: the power cost formula, a day's margin by hand, the input hash
recomputed from the written-out inputs, units, and bad power files refused with their line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import DataError, UsageError
from hashmarket.index import (
    example_power_prices_path,
    power_cost_usd_per_ph_day,
    read_power_prices,
    regional_fixings,
    regional_margin_usd_per_ph_day,
)

ROOT = Path(__file__).parents[2]
DAY = dt.date(2025, 1, 5)


@pytest.fixture(scope="module")
def history() -> NetworkHistory:
    return NetworkHistory.load().between(dt.date(2024, 12, 1), dt.date(2025, 1, 31))


def write(tmp_path: Path, text: str, name: str = "power.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_power_cost_is_efficiency_times_24_times_price() -> None:
    # 20 J/TH: 1 PH/s draws 20 kW, 480 kWh a day; at 0.05 USD/kWh that is 24 USD.
    assert power_cost_usd_per_ph_day(efficiency_j_per_th=20, price_usd_per_kwh=0.05) == 24.0
    # 17.5 J/TH at 0.07 USD/kWh: 17.5 × 24 × 0.07 = 29.4.
    assert power_cost_usd_per_ph_day(
        efficiency_j_per_th=17.5, price_usd_per_kwh=0.07
    ) == pytest.approx(29.4, abs=1e-12)
    assert regional_margin_usd_per_ph_day(
        hashprice_usd_per_ph_day=50.0, efficiency_j_per_th=20, price_usd_per_kwh=0.05
    ) == pytest.approx(26.0, abs=1e-12)


def test_a_days_margin_by_hand_and_its_input_hash(tmp_path: Path, history: NetworkHistory) -> None:
    path = write(tmp_path, "date,region,price_usd_per_mwh\n2025-01-05,texas,40.64\n")
    (fixing,) = regional_fixings(history, read_power_prices(path))
    # Hashprice fixing of 5 Jan 2025: 57.03 USD/PH/s/day. 40.64 USD/MWh = 0.04064 USD/kWh.
    # Power cost 20 × 24 × 0.04064 = 19.5072; margin 57.03 − 19.5072 = 37.5228 → 37.52.
    assert fixing.hashprice_usd_per_ph_day == Decimal("57.03")
    assert fixing.power_price_usd_per_kwh == Decimal("0.04064")
    assert fixing.power_cost_usd_per_ph_day == Decimal("19.5072")
    assert fixing.value == Decimal("37.52")
    assert fixing.methodology_version == "1.0"
    # The input hash, recomputed from the inputs written out here.
    file_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    inputs = {
        "index": "regional-margin",
        "date": "2025-01-05",
        "region": "texas",
        "efficiency_j_per_th": 20.0,
        "hashprice_usd_per_ph_day": "57.03",
        "hashprice_inputs_sha256": fixing.inputs["hashprice_inputs_sha256"],
        "hashprice_methodology_version": "1.0",
        "power_price_usd_per_kwh": "0.04064",
        "power_source": {"file_sha256": file_sha256, "line": 2},
    }
    assert fixing.inputs == inputs
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    assert fixing.inputs_sha256 == hashlib.sha256(canonical.encode()).hexdigest()


def test_a_half_cent_rounds_to_even(tmp_path: Path, history: NetworkHistory) -> None:
    # 480 × 0.04003125 = 19.215: margin 57.03 − 19.215 = 37.815 → 37.82 (2 is even);
    # 480 × 0.04009375 = 19.245: margin 37.785 → 37.78 (8 is even).
    text = "date,region,price_usd_per_kwh\n2025-01-05,a,0.04003125\n2025-01-05,b,0.04009375\n"
    a, b = regional_fixings(history, read_power_prices(write(tmp_path, text)))
    assert (a.power_cost_usd_per_ph_day, a.value) == (Decimal("19.215"), Decimal("37.82"))
    assert (b.power_cost_usd_per_ph_day, b.value) == (Decimal("19.245"), Decimal("37.78"))


def test_mwh_and_kwh_files_give_the_same_fixings(tmp_path: Path, history: NetworkHistory) -> None:
    mwh = write(tmp_path, "date,region,price_usd_per_mwh\n2025-01-05,x,52.39\n", "mwh.csv")
    kwh = write(tmp_path, "region,price_usd_per_kwh,date\nx,0.05239,2025-01-05\n", "kwh.csv")
    (a,) = regional_fixings(history, read_power_prices(mwh))
    (b,) = regional_fixings(history, read_power_prices(kwh))
    assert a.power_price_usd_per_kwh == b.power_price_usd_per_kwh == Decimal("0.05239")
    assert a.value == b.value == Decimal("31.88")  # 57.03 − 25.1472 = 31.8828


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "date,region,price_usd_per_kwh\n2025-01-05,texas,0.04\n2025-01-06,texas,-0.01\n",
            "power.csv:3: column 'price_usd_per_kwh': value '-0.01': must be greater than zero",
        ),
        (
            "date,region,price_usd_per_kwh\n2025-01-05,texas,0\n",
            "power.csv:2: column 'price_usd_per_kwh': value '0': must be greater than zero",
        ),
        (
            "date,region,price_usd_per_mwh\n2025-01-05,texas,40\n2025-13-01,texas,41\n",
            "power.csv:3: column 'date': value '2025-13-01': not a date in YYYY-MM-DD form",
        ),
        (
            "date,region,price_usd_per_mwh\n2025-01-05,texas,40\n2025-01-05,texas,41\n",
            "power.csv:3: column 'date': value '2025-01-05': a second price for texas on this "
            "date (first on line 2)",
        ),
        (
            "date,region,price_usd_per_mwh\n2025-01-05,,40\n",
            "power.csv:2: column 'region': value '': must not be blank",
        ),
        (
            "date,region,price_usd_per_mwh\n2025-01-05,texas\n",
            "power.csv:2: row has 2 fields, the header has 3",
        ),
        (
            "date,region,price\n2025-01-05,texas,40\n",
            "power.csv:1: unexpected column 'price'",
        ),
        (
            "date,region\n2025-01-05,texas\n",
            "power.csv:1: needs exactly one price column, with its unit",
        ),
        (
            "date,region,price_usd_per_kwh,price_usd_per_mwh\n2025-01-05,texas,0.04,40\n",
            "power.csv:1: needs exactly one price column, with its unit",
        ),
        ("date,region,price_usd_per_kwh\n", "power.csv: no power prices"),
    ],
)
def test_a_bad_power_file_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataError) as refused:
        read_power_prices(path, display_name="power.csv")
    assert str(refused.value).startswith(message), str(refused.value)


def test_an_unknown_region_and_a_bad_efficiency_are_refused(
    tmp_path: Path, history: NetworkHistory
) -> None:
    prices = read_power_prices(
        write(tmp_path, "date,region,price_usd_per_kwh\n2025-01-05,a,0.04\n")
    )
    with pytest.raises(DataError, match=r"no prices for region 'b' \(regions: a\)"):
        regional_fixings(history, prices, regions=["b"])
    with pytest.raises(UsageError, match="not an efficiency in J/TH"):
        regional_fixings(history, prices, efficiency_j_per_th=0)


def test_days_beyond_the_network_data_have_no_fixing(tmp_path: Path) -> None:
    history = NetworkHistory.load().between(dt.date(2025, 1, 1), dt.date(2025, 1, 5))
    text = "date,region,price_usd_per_kwh\n2025-01-05,a,0.04\n2025-01-06,a,0.04\n"
    fixings = regional_fixings(history, read_power_prices(write(tmp_path, text)))
    assert [f.date for f in fixings] == [DAY]


def test_the_bundled_example_is_the_generated_example_file() -> None:
    bundled = example_power_prices_path().read_bytes()
    assert bundled == (ROOT / "examples" / "regional" / "power_generated.csv").read_bytes()
