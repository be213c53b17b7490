"""One reader for spec files: JSON or YAML text, errors that name the file, the line and the
field, whichever layer's document it is (instrument spec, risk input, dispatch site)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hashmarket.errors import DataError, RiskError, SpecError
from hashmarket.instruments.spec import load_spec
from hashmarket.operations.dispatch_inputs import read_site
from hashmarket.risk.specs import load_portfolio
from hashmarket.specfile import field_path, located, parse_text, read_document


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_suffix_chooses_the_parser() -> None:
    assert parse_text('{"a": 1}', suffix=".json") == {"a": 1}
    assert parse_text("a: 2026-03-01\n", suffix=".YML") == {"a": dt.date(2026, 3, 1)}
    # Without a known suffix: JSON if it parses, YAML otherwise.
    assert parse_text("a: [1, 2]", suffix=".txt") == {"a": [1, 2]}


def test_json_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(SpecError) as caught:
        read_document(path, what="thing", error=SpecError)
    assert str(caught.value) == f"{path}:4: not a JSON or YAML thing: Expecting value (column 1)"


def test_yaml_error_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "a: 1\nb: [2, 3\nc: 4\n")
    with pytest.raises(RiskError) as caught:
        read_document(path, what="portfolio", error=RiskError)
    message = str(caught.value)
    assert message.startswith(f"{path}:3: not a JSON or YAML portfolio: ")
    assert "(column 2)" in message


def test_json_only_documents_refuse_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "site.txt", "name: s\n")
    with pytest.raises(DataError, match=r"site\.txt:1: not a JSON site description"):
        read_document(path, what="site description", error=DataError, yaml_ok=False)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.json: file not found$"):
        read_document(tmp_path / "missing.json", what="x", error=SpecError)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(RiskError, match=r"folder\.yaml: cannot read the file \(Is a directory\)$"):
        read_document(folder, what="x", error=RiskError)
    latin = write(tmp_path, "latin.yaml", b"a: 1\nname: caf\xe9\n")
    with pytest.raises(DataError, match=r"latin\.yaml:2: not UTF-8 text \(invalid"):
        read_document(latin, what="x", error=DataError)


def test_field_path() -> None:
    assert field_path("mining", "fleet", 0, "count") == "mining.fleet[0].count"
    assert field_path("", "name") == "name"
    assert field_path("positions[2]", "loan", "collateral") == "positions[2].loan.collateral"
    assert field_path("ai_contracts", 3) == "ai_contracts[3]"


def test_located_adds_the_file_only_where_an_error_names_no_place(tmp_path: Path) -> None:
    here = read_document(write(tmp_path, "a.json", "{}"), what="x", error=SpecError)[1]
    with pytest.raises(SpecError) as caught, located(here):
        raise SpecError("spec_negative", field="notional_phs", value=-1)
    assert str(caught.value) == f"{here.file}: field 'notional_phs': value -1 must not be negative"
    assert caught.value.fields == {"field": "notional_phs", "value": -1}
    elsewhere = read_document(write(tmp_path, "b.json", "{}"), what="x", error=SpecError)[1]
    with pytest.raises(SpecError, match=r"b\.json: file not found"), located(here):
        raise SpecError("file_not_found", location=elsewhere)


@pytest.mark.parametrize(
    ("load", "error", "what"),
    [
        (load_spec, SpecError, "JSON or YAML instrument spec"),
        (load_portfolio, RiskError, "JSON or YAML portfolio"),
        (read_site, DataError, "JSON site description"),
    ],
)
def test_every_reader_refuses_a_broken_file_the_same_way(
    tmp_path: Path, load: object, error: type[Exception], what: str
) -> None:
    path = write(tmp_path, "in.json", '{"name": "x",\n "b": }')
    with pytest.raises(error) as caught:
        load(path)  # type: ignore[operator]
    assert str(caught.value) == f"{path}:2: not a {what}: Expecting value (column 7)"
    with pytest.raises(error, match=r"gone\.json: file not found$"):
        load(tmp_path / "gone.json")  # type: ignore[operator]
