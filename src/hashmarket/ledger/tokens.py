"""Hashrate tokens: a series of tokens backed by a fleet's hashrate, paid daily in sats.

A series is a ledger asset (its smallest unit is ``10**-scale`` token) with four accounts:

* the **issuer** account, the asset's issuer: it creates the whole backing supply once;
* the **reserve**, which holds the tokens not yet sold. At issue the issuer moves
  ``floor(backing TH/s ÷ TH/s per token × 10**scale)`` units into it; minting is a transfer
  out of the reserve and burning one back, so the ledger's own no-overdraft limit on the
  reserve is what refuses minting beyond the declared backing;
* the **treasury**, a BTC account of the issuer that pays the distributions;
* each **holder** account, registered with the BTC account its payouts go to.

Outstanding supply = Σ holder balances = backing supply − reserve balance.

Daily distribution for day D (see :func:`daily_amounts` for the arithmetic): from D's FPPS
fixing in BTC and its BTC price, the gross reward of the series' outstanding hashrate times the
day's uptime, less electricity and the service fee converted at that price, is paid in whole
sats to holders pro rata to their balances at the day's cut (00:00 UTC of D + 1 on the ledger
clock), by the largest-remainder rule. The pool is the net rounded *down* to whole sats; the
fraction left (the dust, under 1 sat) and any shortfall (costs above gross: holders get
nothing, never a negative payout) are recorded with the day. The payouts, the record and the
day's proof-of-reserves root are written in one transaction: a day is paid entirely or not at
all, and running it again returns the record without paying anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from hashmarket.errors import LedgerError, TokenError
from hashmarket.instruments.tokens import DailyAmounts, TokenTerms
from hashmarket.ledger.allocation import allocate
from hashmarket.ledger.clock import day_start_ns
from hashmarket.ledger.core import Ledger
from hashmarket.ledger.model import (
    INT64_MAX,
    SCALE_MAX,
    Account,
    AccountFlags,
    Asset,
    Transfer,
    TransferFlags,
    valid_name,
)
from hashmarket.ledger.reserves import InclusionProof, Root, inclusion_proof, merkle_root
from hashmarket.ledger.results import CreateAccountResult, CreateAssetResult, CreateTransferResult
from hashmarket.ledger.store import Store
from hashmarket.ledger.writer import LedgerWriter
from hashmarket.money import DECIMAL, Rounding, exact, round_minor

if TYPE_CHECKING:
    from hashmarket.index.fixings import Fixing

BTC = "BTC"
BTC_SCALE = 8
# Transfer codes (the ledger's user-defined category) of token movements.
CODE_BACKING = 1
CODE_MINT = 2
CODE_BURN = 3
CODE_TRANSFER = 4
CODE_DISTRIBUTION = 5
_POSTED_KINDS_EXCLUDED = int(
    TransferFlags.PENDING | TransferFlags.VOID_PENDING | TransferFlags.EXPIRY
)
_SERIES_COLUMNS = (
    "asset, issuer_account_id, reserve_account_id, treasury_account_id, ths_per_token, "
    "efficiency_w_per_th, power_price_usd_per_kwh, service_fee_usd_per_th_day, "
    "backing_hashrate_ths, term_start, term_end, max_supply_units"
)
_DISTRIBUTION_COLUMNS = (
    "asset, day, hashprice_btc_per_ph_day, btc_price_usd, hashprice_fixing_sha256, "
    "price_fixing_sha256, uptime, cut_ns, supply_units, holder_count, gross_sats, cost_sats, "
    "pool_sats, dust_sats, shortfall_sats, first_seq, last_seq, reserves_root, reserves_total, "
    "timestamp_ns"
)


def _decimal(value: object, *, series: str, field: str) -> Decimal:
    """Decimal from Decimal, int or a decimal string; floats are refused (0.1 is not 1/10)."""
    if isinstance(value, bool | float):
        raise TokenError(
            "token_series_invalid",
            series=series,
            field=field,
            problem="must be a Decimal, an int or a decimal string, not a float or bool",
        )
    try:
        out = Decimal(value) if isinstance(value, int | str | Decimal) else None
    except InvalidOperation:
        out = None
    if out is None or not out.is_finite():
        raise TokenError(
            "token_series_invalid", series=series, field=field, problem=f"{value!r} is not a number"
        )
    return out


@dataclass(frozen=True, slots=True)
class TokenSeries(TokenTerms):
    """A series' terms, as the issuer declares them: the token's economic terms
    (:class:`~hashmarket.instruments.tokens.TokenTerms`, the fields of a ``hashrate_token``
    spec) and the series' accounts, backing, term and scale.

    ``rounding`` turns the day's net reward into the whole-sat pool: down, so the pool never
    pays out more than the fleet earned (the fraction left is recorded as dust).
    """

    asset: str
    issuer_account_id: int
    reserve_account_id: int
    treasury_account_id: int
    backing_hashrate_ths: Decimal
    term_start: dt.date
    term_end: dt.date
    scale: int = 0
    rounding: Rounding = Rounding.DOWN

    @property
    def units_per_token(self) -> int:
        return int(10**self.scale)

    @property
    def max_supply_units(self) -> int:
        """Units the declared backing can cover: floor(backing ÷ TH/s per token × 10**scale)."""
        units = DECIMAL.divide(self.backing_hashrate_ths * self.units_per_token, self.ths_per_token)
        return round_minor(units, Rounding.DOWN)

    def validated(self) -> TokenSeries:
        """The same terms with every number as a Decimal, or :class:`TokenError`."""
        name = self.asset
        fields: dict[str, Any] = {}
        for field in (
            "ths_per_token",
            "efficiency_w_per_th",
            "power_price_usd_per_kwh",
            "service_fee_usd_per_th_day",
            "backing_hashrate_ths",
        ):
            fields[field] = _decimal(getattr(self, field), series=name, field=field)
            must_be_positive = field in ("ths_per_token", "backing_hashrate_ths")
            if fields[field] < 0 or (must_be_positive and fields[field] == 0):
                problem = "must be positive" if must_be_positive else "must not be negative"
                raise TokenError("token_series_invalid", series=name, field=field, problem=problem)
        if type(self.scale) is not int or not 0 <= self.scale <= SCALE_MAX:
            raise TokenError(
                "token_series_invalid", series=name, field="scale", problem="must be 0 to 18"
            )
        if self.rounding != Rounding.DOWN:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="rounding",
                problem=f"{str(self.rounding)!r}: the pool is rounded down, never above what "
                "the fleet earned",
            )
        if self.term_end < self.term_start:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="term_end",
                problem=f"{self.term_end} is before term_start {self.term_start}",
            )
        out = TokenSeries(
            asset=self.asset,
            issuer_account_id=self.issuer_account_id,
            reserve_account_id=self.reserve_account_id,
            treasury_account_id=self.treasury_account_id,
            term_start=self.term_start,
            term_end=self.term_end,
            scale=self.scale,
            **fields,
        )
        if not 0 < out.max_supply_units <= INT64_MAX:
            raise TokenError(
                "token_series_invalid",
                series=name,
                field="backing_hashrate_ths",
                problem="backs less than one unit or more than 2**63 - 1 units",
            )
        return out


@dataclass(frozen=True, slots=True)
class DayRate:
    """What a day's distribution needs from the index: the FPPS hashprice in BTC per PH/s per
    day (the BTC fixing's value) and the BTC price in USD (the USD fixing's ``price_usd``
    input), with the SHA-256 of each fixing's inputs for the record."""

    day: dt.date
    hashprice_btc_per_ph_day: Decimal
    btc_price_usd: Decimal
    hashprice_fixing_sha256: str
    price_fixing_sha256: str

    @classmethod
    def from_fixings(cls, btc: Fixing, usd: Fixing) -> DayRate:
        def fail(problem: str) -> TokenError:
            return TokenError("token_fixing", day=btc.date, problem=problem)

        if btc.date != usd.date:
            raise fail(f"the BTC fixing is for {btc.date}, the USD fixing for {usd.date}")
        if (btc.currency, usd.currency) != ("btc", "usd"):
            raise fail("need one fixing in BTC and one in USD")
        if btc.method != "fpps" or usd.method != "fpps":
            raise fail("distributions use the fpps method")
        price = usd.inputs.get("price_usd")
        if price is None or isinstance(price, bool) or not price > 0:
            raise fail("the USD fixing has no BTC price")
        if btc.value <= 0:
            raise fail("the hashprice is not positive")
        return cls(
            day=btc.date,
            hashprice_btc_per_ph_day=btc.value,
            btc_price_usd=exact(price),
            hashprice_fixing_sha256=btc.inputs_sha256,
            price_fixing_sha256=usd.inputs_sha256,
        )


def daily_amounts(
    series: TokenSeries, rate: DayRate, *, supply_units: int, uptime: Decimal
) -> DailyAmounts:
    """The day's pool for the outstanding supply: the token's own payoff
    (:meth:`~hashmarket.instruments.tokens.TokenTerms.daily_amounts`) for the hashrate
    supply ÷ 10**scale × TH/s per token, on the day's fixings, rounded by the series'
    ``rounding`` (a floor, through :mod:`hashmarket.money`), so what a buyer prices is what
    the series pays."""
    hashrate_ths = DECIMAL.multiply(
        DECIMAL.divide(Decimal(supply_units), Decimal(series.units_per_token)),
        series.ths_per_token,
    )
    return series.daily_amounts(
        hashrate_ths=hashrate_ths,
        hashprice_btc_per_ph_day=rate.hashprice_btc_per_ph_day,
        price_usd=rate.btc_price_usd,
        uptime=uptime,
        rounding=series.rounding,
    )


@dataclass(frozen=True, slots=True)
class Distribution:
    """The record of one series-day, as stored (append-only) beside its payouts."""

    asset: str
    day: dt.date
    hashprice_btc_per_ph_day: Decimal
    btc_price_usd: Decimal
    hashprice_fixing_sha256: str
    price_fixing_sha256: str
    uptime: Decimal
    cut_ns: int
    supply_units: int
    holder_count: int
    gross_sats: Decimal
    cost_sats: Decimal
    pool_sats: int
    dust_sats: Decimal
    shortfall_sats: Decimal
    first_seq: int  # journal rows of the payouts: first_seq … last_seq (0, 0 if none)
    last_seq: int
    reserves_root: bytes
    reserves_total: int
    timestamp_ns: int

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Distribution:
        return cls(
            asset=row[0],
            day=dt.date.fromisoformat(row[1]),
            hashprice_btc_per_ph_day=Decimal(row[2]),
            btc_price_usd=Decimal(row[3]),
            hashprice_fixing_sha256=row[4],
            price_fixing_sha256=row[5],
            uptime=Decimal(row[6]),
            cut_ns=row[7],
            supply_units=row[8],
            holder_count=row[9],
            gross_sats=Decimal(row[10]),
            cost_sats=Decimal(row[11]),
            pool_sats=row[12],
            dust_sats=Decimal(row[13]),
            shortfall_sats=Decimal(row[14]),
            first_seq=row[15],
            last_seq=row[16],
            reserves_root=bytes(row[17]),
            reserves_total=row[18],
            timestamp_ns=row[19],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.asset,
            "day": self.day.isoformat(),
            "hashprice_btc_per_ph_day": str(self.hashprice_btc_per_ph_day),
            "btc_price_usd": str(self.btc_price_usd),
            "hashprice_fixing_sha256": self.hashprice_fixing_sha256,
            "price_fixing_sha256": self.price_fixing_sha256,
            "uptime": str(self.uptime),
            "cut_ns": self.cut_ns,
            "supply_units": self.supply_units,
            "holder_count": self.holder_count,
            "gross_sats": str(self.gross_sats),
            "cost_sats": str(self.cost_sats),
            "pool_sats": self.pool_sats,
            "dust_sats": str(self.dust_sats),
            "shortfall_sats": str(self.shortfall_sats),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "reserves_root": self.reserves_root.hex(),
            "reserves_total": self.reserves_total,
        }


@dataclass(frozen=True, slots=True)
class Holding:
    token_account_id: int
    payout_account_id: int
    balance_units: int


# -- reading the registry -------------------------------------------------------------------


def _series_from_row(row: Sequence[Any], scale: int) -> TokenSeries:
    return TokenSeries(
        asset=row[0],
        issuer_account_id=row[1],
        reserve_account_id=row[2],
        treasury_account_id=row[3],
        ths_per_token=Decimal(row[4]),
        efficiency_w_per_th=Decimal(row[5]),
        power_price_usd_per_kwh=Decimal(row[6]),
        service_fee_usd_per_th_day=Decimal(row[7]),
        backing_hashrate_ths=Decimal(row[8]),
        term_start=dt.date.fromisoformat(row[9]),
        term_end=dt.date.fromisoformat(row[10]),
        scale=scale,
    )


def load_series(store: Store, asset: str) -> TokenSeries:
    columns = ", ".join(f"t.{c.strip()}" for c in _SERIES_COLUMNS.split(","))
    rows = store.query(
        f"SELECT {columns}, a.scale FROM token_series AS t JOIN assets AS a ON a.code = t.asset "
        "WHERE t.asset = ?",
        (asset,),
    )
    if not rows:
        raise TokenError("token_series_unknown", series=asset)
    return _series_from_row(rows[0][:12], rows[0][12])


def series(ledger: Ledger, asset: str) -> TokenSeries:
    with ledger.snapshot() as store:
        return load_series(store, asset)


def all_series(ledger: Ledger) -> list[TokenSeries]:
    with ledger.snapshot() as store:
        codes = [r[0] for r in store.query("SELECT asset FROM token_series")]
        return [load_series(store, code) for code in sorted(codes)]


def _first_seq_at(store: Store, cut_ns: int) -> int:
    """The first journal seq stamped at or after ``cut_ns`` (head seq + 1 if none).

    Timestamps strictly increase with seq (``verify()`` checks it), so a binary search over
    the primary key finds it without an index on timestamps."""
    head = store.read_head()
    lo, hi = 1, head.seq + 1
    while lo < hi:
        mid = (lo + hi) // 2
        (ts,) = store.query("SELECT timestamp_ns FROM journal WHERE seq = ?", (mid,))[0]
        if ts >= cut_ns:
            hi = mid
        else:
            lo = mid + 1
    return lo


def holding_rows(store: Store, s: TokenSeries, cut_ns: int | None) -> list[tuple[int, int, int]]:
    """(token account, payout account, posted balance) of every holder at the cut (now if
    ``None``), in account-id order, zeros included: the current balance less every posted
    movement stamped at or after the cut. Tuples, not objects: this runs over every holder.
    """
    rows = store.query(
        "SELECT a.id, h.payout_account_id, b.credits_posted - b.debits_posted "
        "FROM accounts AS a JOIN balances AS b ON b.account_id = a.id "
        "LEFT JOIN token_holders AS h ON h.token_account_id = a.id "
        "WHERE a.asset = ? AND a.id <> ? AND a.id <> ? ORDER BY a.id",
        (s.asset, s.issuer_account_id, s.reserve_account_id),
    )
    if cut_ns is not None:
        # Only this series' rows (both accounts of a row hold the same asset): a catch-up
        # run after the cut may follow another day's million payouts in other assets.
        later = store.query(
            "SELECT j.debit_account_id, j.credit_account_id, j.amount, j.flags "
            "FROM journal AS j JOIN accounts AS a ON a.id = j.debit_account_id "
            "WHERE j.seq >= ? AND a.asset = ?",
            (_first_seq_at(store, cut_ns), s.asset),
        )
        changes: dict[int, int] = {}
        for debit, credit, amount, flags in later:
            if not flags & _POSTED_KINDS_EXCLUDED:
                changes[debit] = changes.get(debit, 0) + amount
                changes[credit] = changes.get(credit, 0) - amount
        if changes:
            rows = [(a, p, b + changes.get(a, 0)) for a, p, b in rows]
    for account_id, payout, balance in rows:
        if payout is None and balance:
            raise TokenError("token_holder_unknown", account=account_id, series=s.asset)
    return [r for r in rows if r[1] is not None]


def holdings_at(store: Store, s: TokenSeries, cut_ns: int | None) -> list[Holding]:
    return [Holding(a, p, b) for a, p, b in holding_rows(store, s, cut_ns)]


def holdings(ledger: Ledger, asset: str, *, day: dt.date | None = None) -> list[Holding]:
    """Holders of a series now, or at the cut of ``day``."""
    with ledger.snapshot() as store:
        s = load_series(store, asset)
        cut = None if day is None else day_start_ns(day + dt.timedelta(days=1))
        return holdings_at(store, s, cut)


def distribution(ledger: Ledger, asset: str, day: dt.date) -> Distribution | None:
    with ledger.snapshot() as store:
        return _load_distribution(store, asset, day)


def _load_distribution(store: Store, asset: str, day: dt.date) -> Distribution | None:
    rows = store.query(
        f"SELECT {_DISTRIBUTION_COLUMNS} FROM token_distributions WHERE asset = ? AND day = ?",
        (asset, day.isoformat()),
    )
    return Distribution.from_row(rows[0]) if rows else None


# -- writing --------------------------------------------------------------------------------


def _refused(action: str, asset: str, code: str, reason: str) -> TokenError:
    return TokenError("token_refused", action=action, series=asset, result_code=code, reason=reason)


def issue(ledger: Ledger, terms: TokenSeries, *, at_ns: int | None = None) -> TokenSeries:
    """Declare a series: its asset and issuer, its reserve filled with the backed supply, and
    the registry row. Replaying the same declaration changes nothing. ``at_ns`` back-dates
    the declaration (an import, see ``Ledger.transaction``)."""
    s = terms.validated()
    with ledger.transaction(at_ns=at_ns) as w:
        existing = w.store.query("SELECT 1 FROM token_series WHERE asset = ?", (s.asset,))
        if existing:
            found = load_series(w.store, s.asset)
            if found != s:
                raise _refused("issue", s.asset, "exists_with_different_terms", "series exists")
            return found
        btc = w.store.query("SELECT scale FROM assets WHERE code = ?", (BTC,))
        if not btc or btc[0][0] != BTC_SCALE:
            raise _refused("issue", s.asset, "asset_not_found", "the ledger has no BTC asset")
        treasury = w.store.accounts_by_id([s.treasury_account_id])
        if not treasury or treasury[0][1] != BTC:
            raise _refused(
                "issue", s.asset, "treasury_not_btc", "the treasury must be a BTC account"
            )
        code = w.create_asset(
            Asset(s.asset, s.scale), issuer_account_id=s.issuer_account_id, name=None
        )
        if code is not CreateAssetResult.OK:
            raise _refused("issue", s.asset, code.value, code.reason)
        (account_code,) = w.create_accounts([Account(s.reserve_account_id, s.asset)])
        if account_code is not CreateAccountResult.OK:
            raise _refused("issue", s.asset, account_code.value, account_code.reason)
        backing = Transfer(
            0, s.issuer_account_id, s.reserve_account_id, s.max_supply_units, code=CODE_BACKING
        )
        (transfer_code,) = w.create_transfers([backing], ledger_ids=True)
        if transfer_code is not CreateTransferResult.OK:
            raise _refused("issue", s.asset, transfer_code.value, transfer_code.reason)
        w.store.execute(
            f"INSERT INTO token_series ({_SERIES_COLUMNS}, timestamp_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.asset,
                s.issuer_account_id,
                s.reserve_account_id,
                s.treasury_account_id,
                str(s.ths_per_token),
                str(s.efficiency_w_per_th),
                str(s.power_price_usd_per_kwh),
                str(s.service_fee_usd_per_th_day),
                str(s.backing_hashrate_ths),
                s.term_start.isoformat(),
                s.term_end.isoformat(),
                s.max_supply_units,
                w.tick(),
            ),
        )
    return s


def open_holder(
    w: LedgerWriter,
    asset: str,
    *,
    token_account_id: int,
    payout_account_id: int,
    name: str | None = None,
    open_payout: bool = False,
) -> None:
    """Open (or find) a holder account of the series, paid to ``payout_account_id`` (BTC).

    ``open_payout``: a payout account that does not exist yet is opened as a BTC account
    (it only receives sats, so nothing is at stake in creating it); otherwise it must exist.
    """
    s = load_series(w.store, asset)
    registered = w.store.query(
        "SELECT asset, payout_account_id FROM token_holders WHERE token_account_id = ?",
        (token_account_id,),
    )
    if registered:
        if tuple(registered[0]) != (asset, payout_account_id):
            raise _refused("holder", asset, "exists_with_different_payout", "registered otherwise")
        return
    payout = w.store.accounts_by_id([payout_account_id])
    if not payout and open_payout:
        (opened,) = w.create_accounts([Account(payout_account_id, BTC)])
        if opened is not CreateAccountResult.OK:
            raise _refused("holder", asset, opened.value, f"payout account: {opened.reason}")
        payout = w.store.accounts_by_id([payout_account_id])
    if not payout:
        raise LedgerError("account_not_found", account=payout_account_id)
    if payout[0][1] != BTC or payout[0][2] & int(AccountFlags.ISSUER):
        raise _refused("holder", asset, "payout_not_btc", "payouts go to a BTC holder account")
    if payout_account_id == s.treasury_account_id:
        # The treasury would pay itself: the issuer holds through another BTC account.
        raise _refused("holder", asset, "payout_is_treasury", "the treasury pays, it is not paid")
    if token_account_id in (s.issuer_account_id, s.reserve_account_id):
        raise _refused("holder", asset, "not_a_holder_account", "issuer and reserve do not hold")
    if name is not None and not valid_name(name):
        raise _refused("holder", asset, "name_invalid", "not a valid account name")
    (code,) = w.create_accounts([Account(token_account_id, asset, name=name)])
    if code is not CreateAccountResult.OK:
        raise _refused("holder", asset, code.value, code.reason)
    w.store.execute(
        "INSERT INTO token_holders (token_account_id, asset, payout_account_id, timestamp_ns) "
        "VALUES (?, ?, ?, ?)",
        (token_account_id, asset, payout_account_id, w.tick()),
    )
    w.applied += 1


def _is_holder(w: LedgerWriter, asset: str, account_id: int) -> bool:
    return bool(
        w.store.query(
            "SELECT 1 FROM token_holders WHERE token_account_id = ? AND asset = ?",
            (account_id, asset),
        )
    )


def _move(w: LedgerWriter, action: str, asset: str, transfer: Transfer) -> None:
    (code,) = w.create_transfers([transfer])
    if code is CreateTransferResult.OK:
        return
    reason = code.reason
    if action == "mint" and code is CreateTransferResult.EXCEEDS_CREDITS:
        reason = "minting beyond the declared backing (the reserve holds the unminted supply)"
    raise _refused(action, asset, code.value, reason)


def mint(
    w: LedgerWriter, asset: str, *, transfer_id: int, to_account_id: int, amount_units: int
) -> None:
    """Sell ``amount_units`` out of the reserve to a holder."""
    s = load_series(w.store, asset)
    if not _is_holder(w, asset, to_account_id):
        raise TokenError("token_holder_unknown", account=to_account_id, series=asset)
    _move(
        w,
        "mint",
        asset,
        Transfer(transfer_id, s.reserve_account_id, to_account_id, amount_units, code=CODE_MINT),
    )


def burn(
    w: LedgerWriter, asset: str, *, transfer_id: int, from_account_id: int, amount_units: int
) -> None:
    """Return ``amount_units`` from a holder to the reserve: the outstanding supply shrinks."""
    s = load_series(w.store, asset)
    if not _is_holder(w, asset, from_account_id):
        raise TokenError("token_holder_unknown", account=from_account_id, series=asset)
    _move(
        w,
        "burn",
        asset,
        Transfer(transfer_id, from_account_id, s.reserve_account_id, amount_units, code=CODE_BURN),
    )


def transfer(
    w: LedgerWriter,
    asset: str,
    *,
    transfer_id: int,
    from_account_id: int,
    to_account_id: int,
    amount_units: int,
) -> None:
    """Move tokens between two holders of the series."""
    load_series(w.store, asset)
    for account_id in (from_account_id, to_account_id):
        if not _is_holder(w, asset, account_id):
            raise TokenError("token_holder_unknown", account=account_id, series=asset)
    _move(
        w,
        "transfer",
        asset,
        Transfer(transfer_id, from_account_id, to_account_id, amount_units, code=CODE_TRANSFER),
    )


def distribute(
    ledger: Ledger, asset: str, rate: DayRate, *, uptime: Decimal = Decimal(1)
) -> Distribution:
    """Pay day ``rate.day`` to the series' holders (see the module doc). Idempotent per day."""
    if not isinstance(uptime, Decimal) or not Decimal(0) <= uptime <= Decimal(1):
        raise TokenError(
            "token_series_invalid", series=asset, field="uptime", problem="must be 0 … 1"
        )
    day = rate.day
    with ledger.transaction() as w:
        store = w.store
        s = load_series(store, asset)
        done = _load_distribution(store, asset, day)
        if done is not None:
            return done  # nothing applied: the transaction rolls back
        if not s.term_start <= day <= s.term_end:
            raise TokenError(
                "token_day_outside_term",
                day=day,
                series=asset,
                start=s.term_start,
                end=s.term_end,
            )
        cut_ns = day_start_ns(day + dt.timedelta(days=1))
        if w.now_ns < cut_ns:
            raise TokenError("token_day_not_over", day=day, cut=f"{day + dt.timedelta(days=1)}")
        held = [r for r in holding_rows(store, s, cut_ns) if r[2] > 0]
        supply = sum(r[2] for r in held)
        amounts = daily_amounts(s, rate, supply_units=supply, uptime=uptime)
        # Three flat lists instead of one list of records: a million holders must fit.
        leaves = [(token_id, balance) for token_id, _, balance in held]
        payouts = [payout for _, payout, _ in held]
        del held
        shares = allocate(amounts.pool_sats, leaves)
        credits = [(p, share) for p, share in zip(payouts, shares, strict=True) if share]
        del shares, payouts
        first_seq = w.head.seq + 1 if credits else 0
        code, index = w.create_fan_out(s.treasury_account_id, credits, code=CODE_DISTRIBUTION)
        if code is not CreateTransferResult.OK:
            raise _refused(
                "distribution",
                asset,
                code.value,
                f"payout {index + 1} of {len(credits)}: {code.reason}",
            )
        last_seq = w.head.seq if credits else 0
        del credits
        root = merkle_root(asset, day, leaves)
        record = Distribution(
            asset=asset,
            day=day,
            hashprice_btc_per_ph_day=rate.hashprice_btc_per_ph_day,
            btc_price_usd=rate.btc_price_usd,
            hashprice_fixing_sha256=rate.hashprice_fixing_sha256,
            price_fixing_sha256=rate.price_fixing_sha256,
            uptime=uptime,
            cut_ns=cut_ns,
            supply_units=supply,
            holder_count=len(leaves),
            gross_sats=amounts.gross_sats,
            cost_sats=amounts.cost_sats,
            pool_sats=amounts.pool_sats,
            dust_sats=amounts.dust_sats,
            shortfall_sats=amounts.shortfall_sats,
            first_seq=first_seq,
            last_seq=last_seq,
            reserves_root=root.hash,
            reserves_total=root.total,
            timestamp_ns=w.tick(),
        )
        data = record.to_dict()
        store.execute(
            f"INSERT INTO token_distributions ({_DISTRIBUTION_COLUMNS}) "
            f"VALUES ({', '.join('?' * 20)})",
            (
                asset,
                day.isoformat(),
                data["hashprice_btc_per_ph_day"],
                data["btc_price_usd"],
                record.hashprice_fixing_sha256,
                record.price_fixing_sha256,
                data["uptime"],
                cut_ns,
                supply,
                len(leaves),
                data["gross_sats"],
                data["cost_sats"],
                record.pool_sats,
                data["dust_sats"],
                data["shortfall_sats"],
                first_seq,
                last_seq,
                root.hash,
                root.total,
                record.timestamp_ns,
            ),
        )
        w.applied += 1
    return record


def proof(ledger: Ledger, asset: str, day: dt.date, account_id: int) -> InclusionProof:
    """An inclusion proof of a holder's balance at the cut of a distributed day, checked
    against the root published with that day's distribution."""
    with ledger.snapshot() as store:
        s = load_series(store, asset)
        record = _load_distribution(store, asset, day)
        if record is None:
            raise TokenError("token_proof", problem=f"for {asset} on {day}: no distribution yet")
        leaves = [(a, b) for a, _, b in holding_rows(store, s, record.cut_ns) if b > 0]
    if account_id not in {a for a, _ in leaves}:
        raise TokenError(
            "token_proof", problem=f"account {account_id} held no {asset} at the cut of {day}"
        )
    out = inclusion_proof(asset, day, leaves, account_id)
    published = Root(record.reserves_root, record.reserves_total, record.holder_count)
    if out.root != published:
        raise TokenError("token_proof", problem="the ledger no longer matches the published root")
    return out
