"""Output helpers: JSON numbers stay numbers; tables stay whole in an 80-column terminal."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from hashmarket.cli.common import csv_cell, exact_record, jsonable, print_table, to_json

ROWS = [
    ("1", "btc-issuer", "BTC", "-1.00000000", "-100,000,000", "-100,000,000", "0", "0"),
    ("301", "alice-payouts", "BTC", "0.00000000", "0", "0", "0", "5,000"),
]
HEADERS = ("id", "name", "asset", "balance", "units", "available", "pending out", "pending in")


def accounts_table() -> Table:
    table = Table(title="Accounts", title_justify="left")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("name", "asset") else "right")
    for row in ROWS:
        table.add_row(*row)
    return table


def printed(width: int, *, optional: tuple[str, ...] = ()) -> str:
    out = Console(width=width, record=True, file=io.StringIO())
    print_table(accounts_table(), optional=optional, out=out)
    return out.export_text()


def test_a_table_that_fits_is_printed_as_rich_prints_it() -> None:
    out = Console(width=160, record=True, file=io.StringIO())
    out.print(accounts_table())
    assert printed(160, optional=("balance",)) == out.export_text()


def test_at_80_columns_numbers_are_whole_and_the_optional_column_goes() -> None:
    text = printed(80, optional=("balance",))
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for cell in ("-100,000,000", "alice-payouts", "5,000"):
        assert cell in text
    assert "balance" not in text and "-1.00000000" not in text


def test_rich_alone_would_cut_the_numbers_short() -> None:
    out = Console(width=80, record=True, file=io.StringIO())
    out.print(accounts_table())
    assert "…" in out.export_text()


def test_decimals_are_json_numbers_and_keep_their_digits_in_csv() -> None:
    assert jsonable(Decimal("3.6450")) == 3.645
    text = to_json({"value": Decimal("3.6450"), "tiny": Decimal("0E-8"), "nan": Decimal("NaN")})
    assert '"value": 3.6450' in text and '"tiny": 0E-8' in text
    assert json.loads(text) == {"value": 3.645, "tiny": 0.0, "nan": None}
    assert json.loads(to_json([Decimal("123456789012345678.000000001")]))[0] > 1e17
    assert json.dumps(jsonable(Decimal("2"))) == "2.0"
    assert csv_cell(Decimal("3.6450")) == "3.6450"
    assert csv_cell(float("nan")) == ""


def test_a_ledger_record_writes_its_decimals_as_numbers_and_stores_them_as_text() -> None:
    from hashmarket.ledger.tokens import Distribution

    row = ["HT1", "2025-01-10", "0.00058154", "94759.1196358854", "a", "b", "0E-8", 1, 550, 2]
    row += ["31984.7000000000", "14046.14", 17938, "0.5585", "0", 12, 13, b"\x01", 550, 5]
    record = Distribution.from_row(row)
    stored = record.to_dict()  # what the ledger writes and the HTTP API returns: text
    assert (stored["gross_sats"], stored["uptime"]) == ("31984.7000000000", "0E-8")
    out = exact_record(record)
    assert out["gross_sats"] == Decimal("31984.7000000000") and out["uptime"] == 0
    assert (out["series"], out["reserves_root"], out["pool_sats"]) == ("HT1", "01", 17938)
    text = to_json(out)
    assert '"gross_sats": 31984.7000000000,' in text and '"uptime": 0E-8,' in text
    assert json.loads(text)["btc_price_usd"] == 94759.1196358854
    assert record.to_dict() == stored  # the record itself is unchanged


def run(*args: str, home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hashmarket", *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HASHMARKET_DATA_DIR": str(home)},
    )
    return done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("data", "info"),
        ("index", "hashprice", "--last", "5"),
        ("index", "gpu"),
        ("miner", "models"),
    ],
)
def test_tables_fit_80_columns_without_cutting_cells(args: tuple[str, ...], tmp_path: Path) -> None:
    text = run(*args, home=tmp_path)
    assert "…" not in text
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80


def test_gpu_index_json_values_are_numbers(tmp_path: Path) -> None:
    records = json.loads(run("index", "gpu", "--format", "json", home=tmp_path))
    assert records and all(isinstance(r["value"], float) for r in records)
    assert records[-1]["value"] == 2.35
