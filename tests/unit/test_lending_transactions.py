"""Lending transaction files: strict reading (file:line: column: value), imports that store
all or nothing, the generated example, and ``hashmarket index lending-rate``."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hashmarket.cli.app import app
from hashmarket.errors import DataError
from hashmarket.index import LendingCurrency, import_transactions, read_transactions

HEADER = (
    "transaction_id,currency,start_date,maturity_date,amount,rate_per_year,"
    "lender,borrower,lender_owner,borrower_owner\n"
)
GOOD = "t1,usd,2026-01-14,2026-02-13,250000.50,0.0725,l1,b1,fund-a,miner-b\n"
GOOD_BTC = "t2,btc,2026-01-14,2026-01-15,1.23456789,0.004,,,,\n"
EXAMPLE = Path(__file__).parents[2] / "examples" / "lending"


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "tx.csv"
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def test_reads_amounts_in_minor_units(tmp_path: Path) -> None:
    usd, btc = read_transactions(write(tmp_path, GOOD, GOOD_BTC))
    assert (usd.currency, usd.amount_minor, usd.rate_per_year) == (
        LendingCurrency.USD,
        25_000_050,
        Decimal("0.0725"),
    )
    assert (usd.start, usd.days, usd.lender_owner) == (dt.date(2026, 1, 14), 30, "fund-a")
    assert (btc.amount_minor, btc.days, btc.borrower_owner) == (123_456_789, 1, "")


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("t3,usd,2026-01-14,2026-02-13,1.001,0.07,,,,", "column 'amount': value '1.001': more "
         "decimals than usd has (whole cents)"),
        ("t3,eur,2026-01-14,2026-02-13,100,0.07,,,,", "column 'currency': value 'eur': "
         "expected usd or btc"),
        ("t3,usd,2026-01-14,2026-01-14,100,0.07,,,,", "column 'maturity_date': value "
         "'2026-01-14': must be after start_date 2026-01-14"),
        ("t3,usd,2026-01-14,2026-02-13,100,5.25,,,,", "column 'rate_per_year': value '5.25': "
         "must be a fraction per year"),
        ("t3,usd,14/01/2026,2026-02-13,100,0.07,,,,", "column 'start_date': value "
         "'14/01/2026': not a date in YYYY-MM-DD form"),
        ("t3,usd,2026-01-14,2026-02-13,-5,0.07,,,,", "column 'amount': value '-5': must be "
         "greater than zero"),
        ("t1,usd,2026-01-14,2026-02-13,100,0.07,,,,", "column 'transaction_id': value 't1': "
         "transaction_id appears twice (first on line 2)"),
        ("t3,usd,2008-12-31,2009-01-30,100,0.07,,,,", "column 'start_date': value "
         "'2008-12-31': must be between 2009-01-03 and 2099-12-31"),
        ("ledger:x,usd,2026-01-14,2026-02-13,100,0.07,,,,", "names the ledger's own loans"),
        ("t3,usd,2026-01-14,2026-02-13,100,0.07,,,", "row has 9 fields, the header has 10"),
    ],
)  # fmt: skip
def test_bad_rows_name_file_line_column_value(tmp_path: Path, row: str, where: str) -> None:
    path = write(tmp_path, GOOD, row + "\n")
    with pytest.raises(DataError) as caught:
        read_transactions(path)
    assert str(caught.value).startswith(f"{path}:3")
    assert where in str(caught.value)


def test_bad_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing column 'borrower_owner'"):
        read_transactions(write(tmp_path, header=HEADER.replace(",borrower_owner", "")))
    with pytest.raises(DataError, match="unexpected column 'note'"):
        read_transactions(write(tmp_path, header=HEADER.rstrip() + ",note\n"))


def test_import_is_all_or_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bad = write(tmp_path, GOOD, "t9,usd,2026-01-14,2026-02-13,oops,0.07,,,,\n")
    with pytest.raises(DataError, match=r"tx\.csv:3: column 'amount': value 'oops': not a number"):
        import_transactions(bad, data_dir)
    assert not data_dir.exists()  # nothing stored
    good = write(tmp_path, GOOD)
    stored, rows, new = import_transactions(good, data_dir)
    assert (rows, new, stored.read_text()) == (1, True, good.read_text())
    assert import_transactions(good, data_dir)[2] is False  # the same file again: nothing new
    other = tmp_path / "other.csv"
    other.write_text(HEADER + GOOD.replace("250000.50", "1000"))
    with pytest.raises(DataError, match=r"other.csv:2: column 'transaction_id'.*already imported"):
        import_transactions(other, data_dir)
    assert len(list((data_dir / "lending" / "transactions").iterdir())) == 1


def test_generated_example_is_what_its_seeded_script_writes() -> None:
    spec = importlib.util.spec_from_file_location(
        "generate_transactions", EXAMPLE / "generate_transactions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (EXAMPLE / "transactions_generated.csv").open(newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == module.generate()
    assert len(read_transactions(EXAMPLE / "transactions_generated.csv")) > 2000


def test_cli_import_and_fixings(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = str(tmp_path / "data")
    example = str(EXAMPLE / "transactions_generated.csv")
    done = runner.invoke(app, ["index", "lending-rate", "import", example, "--data-dir", data_dir])
    assert done.exit_code == 0, done.output
    assert "imported transactions_generated.csv: 2383 transactions" in done.output
    done = runner.invoke(
        app,
        ["index", "lending-rate", "--tenor", "1m", "--from", "2026-01-20", "--to", "2026-01-22",
         "--data-dir", data_dir, "--format", "json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    fixings = json.loads(done.output)
    assert [(f["date"], f["tenor"]) for f in fixings] == [
        ("2026-01-20", "1m"),
        ("2026-01-21", "1m"),
        ("2026-01-22", "1m"),
    ]
    assert all(f["level"] in (1, 2, 3, 4) and len(f["inputs_sha256"]) == 64 for f in fixings)


def test_cli_refuses_a_bad_file_and_stores_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path, "t1,usd,2026-01-14,2026-02-13,100,7.5,,,,\n")
    data_dir = tmp_path / "data"
    done = CliRunner().invoke(
        app, ["index", "lending-rate", "import", str(bad), "--data-dir", str(data_dir)]
    )
    assert done.exit_code != 0
    assert isinstance(done.exception, DataError)
    assert "tx.csv:2: column 'rate_per_year': value '7.5'" in str(done.exception)
    assert not data_dir.exists()
