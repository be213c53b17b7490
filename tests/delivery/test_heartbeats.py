"""Signed heartbeats, uptime and SLA refunds of a GPU lease."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hashmarket.delivery.heartbeats import (
    GpuReading,
    Heartbeat,
    NodeAgent,
    SignedHeartbeat,
    countersign,
    public_key_hex,
    read_heartbeats,
)
from hashmarket.delivery.sla import GpuLease, LeaseBlock, SlaReport, settle_refunds, sla_report
from hashmarket.errors import DataError, DeliveryError
from hashmarket.ledger import Account, Ledger, ManualClock
from tests.conftest import fund

START_MINUTE = 29_000_000  # 2025-02-19 21:20 UTC
MINUTES = 100
BUYER, SELLER = 20, 21


def seeded_key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


NODE_A, NODE_B, BUYER_KEY = seeded_key(1), seeded_key(2), seeded_key(3)


def lease(**changes: object) -> GpuLease:
    agent_a = NodeAgent(NODE_A, lease_id="L1", block_id="A")
    agent_b = NodeAgent(NODE_B, lease_id="L1", block_id="B")
    terms: dict[str, object] = {
        "lease_id": "L1",
        "buyer_account_id": BUYER,
        "seller_account_id": SELLER,
        "blocks": (
            LeaseBlock("A", agent_a.public_key_hex, ("gpu-0", "gpu-1")),
            LeaseBlock("B", agent_b.public_key_hex, ("gpu-2",)),
        ),
        "start_minute": START_MINUTE,
        "end_minute": START_MINUTE + MINUTES,
        "price_cents_per_gpu_hour": 250,
    }
    terms.update(changes)
    return GpuLease(**terms)  # type: ignore[arg-type]


def run(
    agent: NodeAgent, devices: list[str], minutes: range, *, load: int = 8_000, power: int = 600
) -> list[SignedHeartbeat]:
    out = []
    for minute in minutes:
        readings = {d: GpuReading(load, power) for d in devices}
        out += [hb.received(minute * 60 + 65) for hb in agent.beat(minute, readings)]
    return out


def test_full_uptime_pays_no_refund_and_reports_load_and_energy() -> None:
    terms = lease()
    term = range(START_MINUTE, START_MINUTE + MINUTES)
    beats = run(NodeAgent(NODE_A, lease_id="L1", block_id="A"), ["gpu-0", "gpu-1"], term)
    beats += run(
        NodeAgent(NODE_B, lease_id="L1", block_id="B"), ["gpu-2"], term, load=5_000, power=300
    )
    report = sla_report(terms, beats)
    a, b = report.blocks
    assert (a.uptime, b.uptime) == (1, 1)
    assert report.refund_cents == 0
    assert a.load_rate == pytest.approx(0.8)
    assert b.load_rate == pytest.approx(0.5)
    # 2 GPUs × 100 min × 600 W = 2 kWh; 0.8 × 200 GPU-min = 2.667 GPU-h of compute.
    assert a.energy_kwh == pytest.approx(2.0)
    assert a.utilised_gpu_hours_per_kwh == pytest.approx(0.8 * 200 / 60 / 2.0)
    assert a.fee_cents_exact == Fraction(2 * 100 * 250, 60)


def test_missing_late_replayed_and_forged_heartbeats_are_downtime() -> None:
    terms = lease()
    agent = NodeAgent(NODE_A, lease_id="L1", block_id="A")
    term = range(START_MINUTE, START_MINUTE + MINUTES)
    beats = run(agent, ["gpu-0"], term)  # gpu-0 up every minute
    beats += run(agent, ["gpu-1"], range(START_MINUTE, START_MINUTE + 90))  # 10 missing
    late = agent.beat(START_MINUTE + 90, {"gpu-1": GpuReading(8_000, 600)})[0]
    beats.append(late.received((START_MINUTE + 91) * 60 + 121))  # 121 s after the minute
    beats.append(beats[0])  # replayed
    forged = Heartbeat("L1", "A", "gpu-1", START_MINUTE + 91, 8_000, 600)
    beats.append(SignedHeartbeat(forged, NODE_B.sign(forged.message()), received_at_s=0))
    other = NodeAgent(NODE_A, lease_id="L2", block_id="A")
    beats += run(other, ["gpu-1"], range(START_MINUTE + 92, START_MINUTE + 93))
    tampered = beats[5]
    beats.append(
        SignedHeartbeat(
            Heartbeat("L1", "A", "gpu-1", START_MINUTE + 93, 10_000, 600),
            tampered.signature,
            received_at_s=tampered.received_at_s,
        )
    )
    beats += run(agent, ["gpu-9"], range(START_MINUTE, START_MINUTE + 1))
    beats += run(agent, ["gpu-1"], range(START_MINUTE + MINUTES, START_MINUTE + MINUTES + 1))
    report = sla_report(terms, beats)
    a = report.blocks[0]
    assert a.up_minutes == 190
    assert a.uptime == Fraction(190, 200)  # 95 %: below 99 % → 10 %, not below 95 %
    assert dict(a.rejected) == {
        "late": 1,
        "replayed": 1,
        "bad_signature": 2,
        "other_lease": 1,
        "unknown_device": 1,
        "outside_term": 1,
    }
    # Fee 2 × 100 × 250 / 60 = 833.33 cents; 10 % = 83.33, rounded up for the buyer.
    assert a.refund_cents == 84
    # Block B sent nothing: down all term, the 50 % tier: 100 × 250 / 60 × 0.5 = 208.33.
    assert report.blocks[1].uptime == 0
    assert report.blocks[1].refund_cents == math.ceil(Fraction(100 * 250, 60) / 2)


def test_countersignature_required_when_the_terms_name_the_buyer_key() -> None:
    agent = NodeAgent(NODE_B, lease_id="L1", block_id="B")
    buyer_hex = NodeAgent(BUYER_KEY, lease_id="L1", block_id="B").public_key_hex
    terms = lease(buyer_public_key=buyer_hex)
    beats = run(agent, ["gpu-2"], range(START_MINUTE, START_MINUTE + 10))
    signed = [countersign(BUYER_KEY, hb) for hb in beats[:6]]
    wrong = [countersign(NODE_A, hb) for hb in beats[6:8]]
    report = sla_report(terms, signed + wrong + beats[8:])
    b = report.blocks[1]
    assert b.up_minutes == 6
    assert b.rejected == {"bad_countersignature": 4}


def test_refunds_settle_on_the_ledger_once(ledger: Ledger, clock: ManualClock) -> None:
    fund(ledger, SELLER, 100_000, asset="USD", tid=9101)
    ledger.create_account(Account(BUYER, "USD"))
    report = sla_report(lease(), [])  # nothing verified: both blocks down, 50 % refunds
    over_s = (START_MINUTE + MINUTES) * 60 + 120  # the term's end and the late grace
    clock.advance(over_s - clock.now_ns() // 10**9 - 1)
    head = ledger.head()
    with pytest.raises(DeliveryError, match="the lease settles from Unix time"):
        settle_refunds(ledger, report)
    assert ledger.head() == head
    clock.advance(1)
    paid = settle_refunds(ledger, report)
    assert [t.amount for t in paid] == [417, 209]  # ⌈833.33 / 2⌉, ⌈416.67 / 2⌉
    assert settle_refunds(ledger, report) == paid  # the same ids: applied once
    assert ledger.account(BUYER).balance == 626 == report.refund_cents
    assert ledger.account(SELLER).balance == 100_000 - 626
    assert ledger.verify().ok


def test_heartbeat_file_round_trip_and_bad_lines(tmp_path: Path) -> None:
    agent = NodeAgent(NODE_A, lease_id="L1", block_id="A")
    beats = run(agent, ["gpu-0"], range(START_MINUTE, START_MINUTE + 3))
    path = tmp_path / "hb.jsonl"
    path.write_text("".join(b.to_line() + "\n" for b in beats))
    assert list(read_heartbeats(path)) == beats
    path.write_text(beats[0].to_line() + '\n{"heartbeat": {"minute": -1}}\n')
    with pytest.raises(DataError, match=r"hb\.jsonl:2: not a heartbeat line"):
        list(read_heartbeats(path))


def test_lease_terms_are_checked() -> None:
    with pytest.raises(DeliveryError, match="strictly decreasing"):
        lease(refund_schedule=((Decimal("0.9"), Decimal("0.5")), (Decimal("0.99"), Decimal("0.1"))))
    with pytest.raises(DeliveryError, match="node_public_key"):
        lease(blocks=(LeaseBlock("A", "00", ("g",)),))


@pytest.mark.parametrize(
    "names", [("L1", "A", "gpu-0"), ('lease "ü"', "b\\1", "GPU-ab12-\u00e9\u4e2d")]
)
def test_the_signed_message_is_the_canonical_json_of_the_fields(
    names: tuple[str, str, str],
) -> None:
    import json

    hb = Heartbeat(names[0], names[1], names[2], START_MINUTE, 7_500, 612)
    canonical = json.dumps(hb.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    assert hb.message() == b"hashmarket heartbeat v1\n" + canonical


def test_parallel_verification_gives_the_same_report() -> None:
    """Signatures checked over two worker processes: the same statuses, counted the same."""
    from hashmarket.delivery.parallel import verify_chunk, verify_many

    report_one, beats = _mixed_report()
    report_two = sla_report(report_one.lease, beats, processes=2)
    assert report_two.to_dict() == report_one.to_dict()
    assert report_one.blocks[0].rejected == {"bad_signature": 1, "bad_countersignature": 10}
    assert report_one.blocks[0].up_minutes == 200 - 11
    good = beats[0]
    key = bytes.fromhex(report_one.lease.blocks[0].node_public_key)
    items = [
        (key, good.signature, good.heartbeat.message()),
        (key, good.signature, good.heartbeat.message() + b"x"),  # another message
        (b"short", good.signature, good.heartbeat.message()),  # not a key
        (key, good.signature[:10], good.heartbeat.message()),  # not a signature
    ]
    assert (
        verify_chunk(items)
        == verify_many(items * 3, processes=2)[:4]
        == [
            True,
            False,
            False,
            False,
        ]
    )


def _mixed_report() -> tuple[SlaReport, list[SignedHeartbeat]]:
    """Block A's heartbeats, one with a forged signature; with the buyer's key required,
    all but the first 10 countersigned (those fail as ``bad_countersignature``)."""
    terms = lease(buyer_public_key=public_key_hex(BUYER_KEY))
    term = range(START_MINUTE, START_MINUTE + MINUTES)
    beats = run(NodeAgent(NODE_A, lease_id="L1", block_id="A"), ["gpu-0", "gpu-1"], term)
    beats = beats[:10] + [countersign(BUYER_KEY, hb) for hb in beats[10:]]
    beats[11] = dataclasses.replace(beats[11], signature=bytes(64))
    return sla_report(terms, beats), beats
