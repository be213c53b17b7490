"""What the ledger stores: assets, accounts and transfers, as frozen values.

The shapes follow TigerBeetle's data model (one debit and one credit account per transfer,
four balance counters per account, flags), with amounts as Python ``int`` in the asset's
smallest unit ("map the smallest useful unit to 1"): BTC in satoshis (scale 8), USD in cents
(scale 2), token assets at whatever scale their series declares.

Request objects (:class:`Account`, :class:`Transfer`) are *not* validated when they are built:
the ledger validates them and answers with an enumerated result code, so a float amount in a
linked batch fails that batch like any other refusal instead of raising half-way through it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from hashmarket.units import NS_PER_S as NS_PER_S  # re-exported: the ledger imports it from here

# Every amount, id, balance counter and timestamp must fit a signed 64-bit column (BIGINT in
# PostgreSQL, INTEGER in SQLite). Balance counters are cumulative, so the ledger refuses a
# transfer that would take any counter past this bound (the ``overflows_*`` codes).
INT64_MAX = 2**63 - 1
CODE_MAX = 2**16 - 1  # a user-defined category, like TigerBeetle's u16 ``code``
NAME_LENGTH_MAX = 128
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$")
ASSET_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{0,15}$")
SCALE_MAX = 18


class AccountFlags(enum.IntFlag):
    """Limits on an account and its role.

    ``DEBITS_MUST_NOT_EXCEED_CREDITS``: debits (posted + pending) may not exceed posted credits,
    the no-overdraft rule. ``CREDITS_MUST_NOT_EXCEED_DEBITS``: the mirror image. ``ISSUER``: the
    one account per asset that may be debited beyond its credits, which is how units of the
    asset come into existence; every other account must carry ``DEBITS_MUST_NOT_EXCEED_CREDITS``
    so that only issuers create an asset. ``IMPORTED``: the account was opened by an import
    (a back-dated write, see ``Ledger.transaction(at_ns=…)``); the ledger sets it.
    """

    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2
    ISSUER = 4
    IMPORTED = 8


ACCOUNT_FLAGS_ALL = (
    AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
    | AccountFlags.ISSUER
    | AccountFlags.IMPORTED
)


class TransferFlags(enum.IntFlag):
    """What a transfer does. At most one of PENDING, POST_PENDING, VOID_PENDING, REVERSAL.

    ``LINKED`` chains a transfer to the next one in the batch: the chain applies entirely or
    not at all. ``EXPIRY`` is never sent by a client; the ledger writes it when a pending
    transfer's timeout passes on the ledger clock. ``IMPORTED`` marks a row written by an
    import (a back-dated write at a caller-given timestamp, see ``Ledger.transaction``); the
    ledger sets it on every row of an import, and a client may send it only inside one.
    """

    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8
    REVERSAL = 16
    EXPIRY = 32
    IMPORTED = 64


TRANSFER_KIND_FLAGS = (
    TransferFlags.PENDING
    | TransferFlags.POST_PENDING
    | TransferFlags.VOID_PENDING
    | TransferFlags.REVERSAL
)
CLIENT_TRANSFER_FLAGS = TransferFlags.LINKED | TRANSFER_KIND_FLAGS


@dataclass(frozen=True, slots=True)
class Asset:
    """An asset and its scale: amounts are integers of 10**-scale units (BTC scale 8 = sats)."""

    code: str
    scale: int


@dataclass(frozen=True, slots=True)
class Account:
    """A request to open an account. Ids are client-chosen integers in [1, 2**63 - 1]."""

    id: int
    asset: str
    flags: AccountFlags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    code: int = 0
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account as stored, with its four balance counters (cached, = fold of the journal)."""

    id: int
    asset: str
    flags: AccountFlags
    code: int
    name: str | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    timestamp_ns: int
    last_seq: int  # the account's newest journal row (0: none yet)

    @property
    def balance(self) -> int:
        """Posted credits minus posted debits: what the account holds (negative for issuers)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """Posted balance less what pending debits have reserved."""
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Transfer:
    """A request to move ``amount`` from the debit account to the credit account.

    * plain: ``debit_account_id``, ``credit_account_id``, ``amount`` > 0;
    * ``PENDING``: the same, reserved until posted, voided or expired; ``timeout_s`` > 0 sets
      the expiry on the ledger clock (0: never expires);
    * ``POST_PENDING`` / ``VOID_PENDING``: ``pending_id`` names the reservation; accounts may
      be 0 (they are the reservation's) and ``amount`` 0 means the whole reservation (a post
      may take less, and the rest is released);
    * ``REVERSAL``: ``reverses_id`` names a posted transfer; the accounts are swapped and the
      amount is the same. A transfer can be reversed once.
    """

    id: int
    debit_account_id: int = 0
    credit_account_id: int = 0
    amount: int = 0
    flags: TransferFlags = TransferFlags.NONE
    pending_id: int = 0
    reverses_id: int = 0
    timeout_s: int = 0
    code: int = 0


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One row of the append-only journal, with its place in the hash chain.

    Client transfers keep their id; rows the ledger writes itself (expiries, distributions)
    have the negative id ``-seq``. For post, void and expiry rows the accounts are the
    reservation's, and ``amount`` is what was posted (post) or released (void, expiry).
    """

    seq: int
    id: int
    debit_account_id: int
    credit_account_id: int
    amount: int
    flags: TransferFlags
    pending_id: int
    reverses_id: int
    timeout_s: int
    code: int
    timestamp_ns: int
    debit_prev_seq: int  # the debit account's previous journal row (0: none)
    credit_prev_seq: int  # the credit account's previous journal row (0: none)
    hash: bytes

    def prev_seq_for(self, account_id: int) -> int:
        """The previous row of ``account_id``'s history before this one."""
        if account_id == self.debit_account_id:
            return self.debit_prev_seq
        if account_id == self.credit_account_id:
            return self.credit_prev_seq
        raise ValueError(f"journal row {self.seq} does not involve account {account_id}")

    @property
    def kind(self) -> str:
        for flag in (
            TransferFlags.PENDING,
            TransferFlags.POST_PENDING,
            TransferFlags.VOID_PENDING,
            TransferFlags.REVERSAL,
            TransferFlags.EXPIRY,
        ):
            if self.flags & flag:
                return str(flag.name).lower()
        return "transfer"


def valid_name(name: object) -> bool:
    """1-128 printable characters, not all digits (so a CLI argument is an id or a name)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= NAME_LENGTH_MAX
        and not name.isdigit()
        and _NAME.match(name) is not None
    )
