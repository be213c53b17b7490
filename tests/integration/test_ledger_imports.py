"""Imports: back-dated accounts and transfers (TigerBeetle's ``imported`` flag), on SQLite and
PostgreSQL, and what they are for: token holders and contracts loaded as of past days, paid
and settled from the fixings published for those days."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hashmarket.api import ServiceConfig, create_app
from hashmarket.api.keys import Role, ServiceStore
from hashmarket.chain.history import NetworkHistory
from hashmarket.errors import LedgerError
from hashmarket.index.fixings import day_fixings, fixings
from hashmarket.instruments.spec import parse_spec
from hashmarket.ledger import (
    Account,
    AccountFlags,
    Asset,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    ManualClock,
    Transfer,
    TransferFlags,
)
from hashmarket.ledger import settlement as st
from hashmarket.ledger import tokens as tk
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.reserves import verify_proof
from tests.conftest import BTC_ISSUER, USD_ISSUER, open_ledger
from tests.integration.test_ledger_cli import Cli, cli, ok_json  # noqa: F401

H = 3_600_000_000_000  # one hour in ns
DAY = dt.date(2025, 1, 10)


def at(day: int, hours: int = 0) -> int:
    return day_start_ns(dt.date(2025, 1, day)) + hours * H


@pytest.fixture
def live(ledger_url: str) -> Ledger:
    """A ledger created on 2025-01-01 (its assets are live events of that day) whose clock
    now reads 2025-01-12: the days between are history to import."""
    clock = ManualClock(at(1))
    ledger = open_ledger(ledger_url, clock)
    clock.set(at(12))
    return ledger


def test_an_import_is_stamped_at_its_timestamp_and_flagged(live: Ledger):
    live.create_accounts([Account(10, "BTC"), Account(11, "BTC")], at_ns=at(3))
    live.create_transfers(
        [Transfer(1, BTC_ISSUER, 10, 500, TransferFlags.LINKED), Transfer(2, 10, 11, 200)],
        at_ns=at(4),
    )
    a10, a11 = live.lookup_accounts([10, 11])
    assert (a10.timestamp_ns, a11.timestamp_ns) == (at(3), at(3) + 1)
    assert a10.flags == AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.IMPORTED
    rows = list(live.journal())
    assert [(r.id, r.timestamp_ns) for r in rows] == [(1, at(4)), (2, at(4) + 1)]
    assert [r.flags for r in rows] == [
        TransferFlags.LINKED | TransferFlags.IMPORTED,
        TransferFlags.IMPORTED,
    ]
    assert (a10.balance, a11.balance) == (300, 200)
    # A replay answers ok and writes nothing, even though its time is now in the past.
    head = live.head()
    assert live.create_transfers([Transfer(2, 10, 11, 200)], at_ns=at(4)) == [
        CreateTransferResult.OK
    ]
    assert live.head() == head
    assert live.verify().ok


@pytest.mark.parametrize(
    ("when", "code"),
    [
        (at(1), "imported_event_timestamp_must_not_regress"),  # the assets' day
        (at(13), "imported_event_timestamp_must_not_advance"),  # after the ledger clock
        (0, "imported_event_timestamp_out_of_range"),
    ],
)
def test_an_import_out_of_order_or_in_the_future_is_refused_whole(
    live: Ledger, when: int, code: str
):
    before = live.state_hash()
    with pytest.raises(LedgerError) as refused:
        live.create_accounts([Account(10, "BTC"), Account(11, "BTC")], at_ns=when)
    assert refused.value.result_code == code
    assert live.state_hash() == before


def test_a_live_event_ends_the_imports_before_it(live: Ledger):
    live.create_account(Account(10, "BTC"), at_ns=at(3))
    live.create_account(Account(11, "BTC"))  # live: stamped 2025-01-12
    with pytest.raises(LedgerError, match="imported_event_timestamp_must_not_regress"):
        live.transfer(Transfer(1, BTC_ISSUER, 10, 5), at_ns=at(5))
    assert live.lookup_transfer(1) is None


def test_the_imported_flag_belongs_to_imports(live: Ledger):
    (code,) = live.create_accounts([Account(10, "BTC", AccountFlags(9))])
    assert code is CreateAccountResult.IMPORTED_EVENT_NOT_EXPECTED
    live.create_account(Account(10, "BTC"), at_ns=at(3))
    (refused,) = live.create_transfers([Transfer(1, BTC_ISSUER, 10, 5, TransferFlags.IMPORTED)])
    assert refused is CreateTransferResult.IMPORTED_EVENT_NOT_EXPECTED
    # Inside an import the flag is accepted (and written anyway).
    (applied,) = live.create_transfers(
        [Transfer(2, BTC_ISSUER, 10, 5, TransferFlags.IMPORTED)], at_ns=at(4)
    )
    assert applied is CreateTransferResult.OK
    entry = live.lookup_transfer(2)
    assert entry is not None and entry.flags == TransferFlags.IMPORTED


def test_an_imported_reservation_cannot_expire(live: Ledger):
    live.create_account(Account(10, "BTC"), at_ns=at(3))
    (code,) = live.create_transfers(
        [Transfer(1, BTC_ISSUER, 10, 5, TransferFlags.PENDING, timeout_s=60)], at_ns=at(4)
    )
    assert code is CreateTransferResult.IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO


SERIES = tk.TokenSeries(
    asset="HT1",
    issuer_account_id=100,
    reserve_account_id=101,
    treasury_account_id=10,
    ths_per_token=Decimal(1),
    efficiency_w_per_th=Decimal("18.5"),
    power_price_usd_per_kwh=Decimal("0.05"),
    service_fee_usd_per_th_day=Decimal("0.002"),
    backing_hashrate_ths=Decimal(1000),
    term_start=dt.date(2025, 1, 1),
    term_end=dt.date(2025, 12, 31),
)


def test_back_dated_holders_are_paid_from_the_days_fixing(live: Ledger):
    """Holders loaded as of past days are paid for 2025-01-10 from that day's fixing. Its inputs:
    difficulty 109,782,075,475,207, 142 blocks, 3.125 BTC subsidy and 6.9081061 BTC of fees,
    so 86,400 × 10¹⁵ / (difficulty × 2³²) × (3.125 + 6.9081061 / 142) = 0.00058154
    BTC/PH/day, at 94,759.1196358854 USD/BTC. 550 TH/s at the cut: gross 0.55 × 0.00058154 ×
    1e8 = 31,984.70 sats; costs 550 × (18.5 W × 24 h / 1000 × 0.05 + 0.002) = 13.31 USD =
    14,046.141 sats; pool floor(17,938.559) = 17,938 sats, shared 500 : 50 by the largest
    remainder: 16,307.27 → 16,307 and 1,630.73 → 1,631."""
    live.create_accounts([Account(10, "BTC")], at_ns=at(1, 1))
    live.transfer(Transfer(1, BTC_ISSUER, 10, 100_000_000), at_ns=at(1, 2))
    tk.issue(live, SERIES, at_ns=at(2))
    with live.transaction(at_ns=at(3)) as w:
        tk.open_holder(w, "HT1", token_account_id=201, payout_account_id=301, open_payout=True)
        tk.mint(w, "HT1", transfer_id=10, to_account_id=201, amount_units=600)
    with live.transaction(at_ns=at(5)) as w:
        tk.open_holder(w, "HT1", token_account_id=202, payout_account_id=302, open_payout=True)
        tk.transfer(
            w, "HT1", transfer_id=11, from_account_id=201, to_account_id=202, amount_units=100
        )
    with live.transaction(at_ns=at(9, 12)) as w:
        tk.burn(w, "HT1", transfer_id=12, from_account_id=202, amount_units=50)
    # A burn after the cut of the 10th does not count for it: import one on the 11th.
    with live.transaction(at_ns=at(11, 1)) as w:
        tk.burn(w, "HT1", transfer_id=13, from_account_id=202, amount_units=50)

    history = NetworkHistory.load(include_noncommercial=True)
    btc, usd = day_fixings(history, DAY)
    seen = btc.inputs
    assert (seen["block_count"], seen["subsidy_btc"], seen["fees_btc"]) == (142, 3.125, 6.9081061)
    blocks_per_ph_day = 86_400e15 / (seen["difficulty"] * 2**32)
    by_hand = blocks_per_ph_day * (seen["subsidy_btc"] + seen["fees_btc"] / seen["block_count"])
    assert round(by_hand, 8) == 0.00058154
    rate = tk.DayRate.from_fixings(btc, usd)
    assert (rate.hashprice_btc_per_ph_day, rate.btc_price_usd) == (
        Decimal("0.00058154"),
        Decimal("94759.1196358854"),
    )
    record = tk.distribute(live, "HT1", rate)
    assert record.gross_sats == Decimal("0.55") * Decimal("0.00058154") * 10**8
    assert abs(record.cost_sats - Decimal("14046.141")) < Decimal("0.001")
    assert (record.supply_units, record.holder_count, record.pool_sats) == (550, 2, 17_938)
    assert live.account(301).balance == 16_307
    assert live.account(302).balance == 1_631
    assert tk.distribute(live, "HT1", rate) == record  # paid once
    proof = tk.proof(live, "HT1", DAY, 201)
    assert proof.balance == 500 and verify_proof(proof)
    assert live.verify().ok


def test_a_back_dated_contract_settles_past_days(live: Ledger):
    """A forward on 10 PH/s at 55 USD/PH/day for 5–10 January 2025, opened on the 4th: the
    buyer receives Σ (fixing − 55) × 10 USD, rounded once to the cent; a rerun moves nothing."""
    live.create_accounts(
        [Account(11, "USD", name="alice"), Account(12, "USD", name="bob")], at_ns=at(1, 1)
    )
    live.create_transfers(
        [Transfer(1, USD_ISSUER, 11, 2_000_000), Transfer(2, USD_ISSUER, 12, 2_000_000)],
        at_ns=at(1, 2),
    )
    forward = parse_spec(
        {
            "type": "hashprice_forward",
            "notional_phs": 10,
            "fixed_price_per_ph_day": 55.0,
            "currency": "usd",
            "start": "2025-01-05",
            "end": "2025-01-10",
        }
    )
    contract = st.Contract("NDF-2025-01", forward, 11, 12, "USD")  # type: ignore[arg-type]
    st.open_contract(live, contract, at_ns=at(4))
    (opened,) = st.events(live, "NDF-2025-01")
    assert opened.timestamp_ns == at(4) + 4  # escrow account, two margins, contract, event

    history = NetworkHistory.load(include_noncommercial=True)
    usd = fixings(history.between(dt.date(2025, 1, 5), DAY), currency="usd")
    assert [f.date.day for f in usd] == [5, 6, 7, 8, 9, 10]
    due = sum(((f.value - Decimal(55)) * 10 for f in usd), Decimal(0))
    expected = int((due * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))

    def run() -> list[st.RunOutcome]:
        statuses = st.status(live)
        published = st.published_fixings(statuses, DAY, history=history)
        return st.run(live, DAY, published)

    (outcome,) = run()
    assert outcome.status.settled_minor == expected
    assert outcome.status.state is st.ContractState.EXPIRED
    assert live.account(11).balance == 2_000_000 + expected
    assert live.account(12).balance == 2_000_000 - expected
    head = live.head()
    (again,) = run()
    assert again.events == () and live.head() == head
    assert live.verify().ok


def test_the_readme_flow_pays_back_dated_holders(cli: Cli, tmp_path: Path):  # noqa: F811
    """The README's token commands, as written, on a fresh data dir."""
    data = tmp_path / "data"

    def ok(*args: str) -> None:
        done = cli(*args, data_dir=data)
        assert done.returncode == 0, done.stderr

    ok("ledger", "init", "--at", "2025-01-01T00:00:00Z")
    ok(
        "ledger",
        "account",
        "10",
        "--asset",
        "BTC",
        "--name",
        "treasury",
        "--at",
        "2025-01-01T00:01:00Z",
    )
    ok("ledger", "transfer", "--from", "1", "--to", "10", "--amount", "100000000", "--id", "1",
       "--at", "2025-01-01T00:03:00Z")  # fmt: skip
    ok("tokens", "issue", "--series", "HT1", "--issuer-id", "100", "--reserve-id", "101",
       "--treasury", "10", "--efficiency-w-per-th", "18.5", "--power-price-usd-per-kwh", "0.05",
       "--service-fee-usd-per-th-day", "0.002", "--backing-ths", "1000", "--start",
       "2025-01-01", "--end", "2025-12-31", "--at", "2025-01-02T00:00:00Z")  # fmt: skip
    ok("tokens", "mint", "--series", "HT1", "--to", "201", "--payout", "301", "--amount", "600",
       "--at", "2025-01-03")  # fmt: skip
    ok("tokens", "transfer", "--series", "HT1", "--from", "201", "--to", "202", "--payout", "302",
       "--amount", "100", "--at", "2025-01-05T00:00:00Z")  # fmt: skip
    ok("tokens", "burn", "--series", "HT1", "--from", "202", "--amount", "50",
       "--at", "2025-01-09T12:00:00+00:00")  # fmt: skip
    paid = ok_json(
        cli, "tokens", "distribute", "--series", "HT1", "--day", "2025-01-10", data_dir=data
    )
    # As test_back_dated_holders_are_paid_from_the_days_fixing: 17,938 sats.
    assert (paid["pool_sats"], paid["holder_count"], paid["supply_units"]) == (17_938, 2, 550)
    ok(
        "tokens",
        "proof",
        "201",
        "--series",
        "HT1",
        "--day",
        "2025-01-10",
        "--out",
        str(tmp_path / "p.json"),
    )
    ok("tokens", "verify-proof", str(tmp_path / "p.json"))
    # The clock has moved on: importing before the distribution is refused, naming why.
    late = cli("tokens", "burn", "--series", "HT1", "--from", "202", "--amount", "1",
               "--at", "2025-01-10", data_dir=data)  # fmt: skip
    assert late.returncode == 1
    assert "imported_event_timestamp_must_not_regress" in late.stderr
    bad = cli(
        "ledger", "account", "12", "--asset", "BTC", "--at", "2025-01-20T00:00", data_dir=data
    )
    assert bad.returncode != 0 and "no UTC offset" in bad.stderr


def test_cli_names_what_is_missing(cli: Cli, tmp_path: Path):  # noqa: F811
    data = tmp_path / "data"
    assert cli("ledger", "init", data_dir=data).returncode == 0
    assert (
        cli(
            "ledger", "account", "11", "--asset", "USD", "--name", "alice", data_dir=data
        ).returncode
        == 0
    )
    spec = Path(__file__).parents[2] / "examples" / "settlement" / "hashprice_forward_2025-01.json"
    done = cli("settle", "open", str(spec), "--buyer", "alice", "--seller", "bob", "--asset", "usd",
               data_dir=data)  # fmt: skip
    assert done.returncode == 1
    assert "no account 'bob' for the seller" in done.stderr
    done = cli("settle", "run", "--day", "2025-01-07", data_dir=data)
    assert done.returncode == 0 and "nothing to settle for 2025-01-07" in done.stdout
    # A payout named by a name that does not exist is not guessed into existence.
    cli("ledger", "account", "10", "--asset", "BTC", "--name", "treasury", data_dir=data)
    cli("tokens", "issue", "--series", "HT1", "--issuer-id", "100", "--reserve-id", "101",
        "--treasury", "10", "--efficiency-w-per-th", "18.5", "--power-price-usd-per-kwh", "0.05",
        "--backing-ths", "1000", "--start", "2025-01-01", "--end", "2025-12-31",
        data_dir=data)  # fmt: skip
    done = cli("tokens", "mint", "--series", "HT1", "--to", "201", "--payout", "carol",
               "--amount", "1", data_dir=data)  # fmt: skip
    assert done.returncode == 1 and "no account 'carol'" in done.stderr


def test_the_api_imports_accounts_and_transfers(tmp_path: Path):
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}", create=True) as ledger:
        ledger.create_asset(Asset("BTC", 8), issuer_account_id=1, at_ns=at(1))
    admin = ServiceStore.in_data_dir(tmp_path).create_key(Role.ADMIN)[1]
    client = TestClient(create_app(ServiceConfig(data_dir=tmp_path)))

    def post(path: str, idem: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {admin}", "Idempotency-Key": idem}
        response = client.post(f"/api/v1/{path}", headers=headers, json=body)
        return response.status_code, response.json()

    account = {"id": 10, "asset": "BTC", "imported": True, "timestamp": at(2)}
    status, body = post("accounts", "a", account)
    assert status == 201, body
    move = {"id": 1, "debit_account_id": 1, "credit_account_id": 10, "amount": 7}
    status, body = post("transfers", "t", {**move, "imported": True, "timestamp": at(3)})
    assert status == 201, body
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        entry = ledger.lookup_transfer(1)
        assert entry is not None and (entry.timestamp_ns, entry.flags) == (
            at(3),
            TransferFlags.IMPORTED,
        )
        assert ledger.account(10).timestamp_ns == at(2)
        before = ledger.state_hash()
    for idem, extra in (
        ("u", {"timestamp": at(4)}),  # a timestamp without imported
        ("v", {"imported": True}),  # imported without a timestamp
        ("w", {"imported": True, "timestamp": -1}),
    ):
        status, body = post("transfers", idem, {**move, "id": 2, **extra})
        assert status == 422, body
    status, body = post("transfers", "x", {**move, "id": 2, "imported": True, "timestamp": at(2)})
    assert status != 201 and "imported_event_timestamp_must_not_regress" in str(body)
    with Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite'}") as ledger:
        assert ledger.state_hash() == before
