"""One exception hierarchy and the catalogue of its messages.

Every error a user can cause is a :class:`HashmarketError`. It carries a catalogue ``key``
(stable, for programs), a message formatted from the catalogue (for people) and, where the
problem sits in a file, the location. The CLI prints ``str(error)`` on one line and exits with
``error.exit_code``; the HTTP API maps the same errors to 4xx bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

# key -> message template. Templates name their fields so the catalogue reads as documentation.
MESSAGES: dict[str, str] = {
    # data files
    "not_utf8": "not UTF-8 text ({detail})",
    "csv_empty": "the file is empty (expected a header row)",
    "csv_missing_column": "missing column {column!r} (expected columns: {expected})",
    "csv_extra_column": "unexpected column {column!r} (expected columns: {expected})",
    "csv_duplicate_column": "column {column!r} appears more than once",
    "csv_field_count": "row has {found} fields, the header has {expected}",
    "bad_date": "not a date in YYYY-MM-DD form",
    "bad_timestamp": "not a UTC timestamp (YYYY-MM-DDTHH:MM:SSZ or Unix seconds)",
    "duplicate_key": "{name} appears twice (first on line {first_line})",
    "key_out_of_order": "{name} is out of order: the previous row has {previous}",
    "epoch_height": "start_height must be 2016 × epoch ({expected})",
    "header_length": "not an 80-byte block header in hex ({found} bytes)",
    "header_hash": "double SHA-256 of header_hex is {expected}, not this block_hash",
    "header_target": "block_hash is above the target that bits {bits} encode",
    "header_field": "the header's {field} field is {expected}",
    "header_height": "height must be a multiple of 2016 (the first block of an epoch)",
    "header_epoch": "epoch {epoch} in {table} has {field} {expected}",
    "bad_number": "not a number",
    "bad_integer": "not a whole number",
    "not_finite": "NaN or infinite values are not allowed",
    "negative": "must not be negative",
    "not_positive": "must be greater than zero",
    "blocks_impossible": "more blocks in a day than consensus allows ({maximum})",
    "bad_bits": "not a compact target (8 hex digits)",
    "bad_hash": "not a 64-hex-digit block hash",
    "unknown_layout": "not a daily or per-block layout: {detail}",
    "no_value_columns": "no value columns besides {name!r}; expected some of: {expected}",
    "file_not_found": "file not found",
    "file_unreadable": "cannot read the file ({detail})",
    "document_unreadable": "not a {syntax} {what}: {detail}",
    "unknown_date_range": "no data between {start} and {end}",
    "no_fixing": "no hashprice fixing for {day}: {problem}",
    "asof_unsupported": "cannot use {asof} as the as-of date: {problem}",
    "blank_value": "must not be blank",
    "csv_missing_one_of": (
        "missing column: one of {columns} is needed (expected columns: {expected})"
    ),
    "csv_needs_column": "column {column!r} needs column {needs!r} in the same file ({reason})",
    "needs_field": "needs a value in {needs!r} on the same row ({reason})",
    "issuance_no_blocks": "issuance without blocks: block_count is 0 on this row",
    "no_values": "no values to import: every value cell is blank",
    "date_out_of_range": "date outside {first} to {last}",
    "block_time_range": (
        "block time must be between {low} and {high} (Unix seconds; milliseconds are not accepted)"
    ),
    "subsidy_too_high": "more than the consensus block subsidy at this height ({maximum} sats)",
    "difficulty_mismatch": "difficulty does not match bits {bits} (which give {expected})",
    "no_full_days": (
        "no UTC day is fully covered by these blocks (a day needs blocks from more than 2 h "
        "before it starts to more than 2 h after it ends)"
    ),
    # local store
    "store_corrupt": "not a Hashmarket store ({detail})",
    "store_version": (
        "the store has schema version {found}; this version of hashmarket reads up to {supported}"
    ),
    "store_busy": "the store {path} is busy: another hashmarket process is writing to it",
    "store_chain": (
        "the store {path} holds blocks of chain {stored!r} but the node is on {chain!r}; "
        "use another --data-dir"
    ),
    # consensus arguments
    "bad_height": "block height must be a non-negative integer, got {value!r}",
    "bad_target": "target must be between 1 and the proof-of-work limit, got {value!r}",
    # node sync
    "rpc_unreachable": "cannot reach the node at {url}: {reason}",
    "rpc_auth": (
        "the node at {url} refused the credentials (HTTP {status}); "
        "check --rpc-user/--rpc-password or --rpc-cookie"
    ),
    "rpc_disconnected": "the node at {url} closed the connection without a reply ({reason})",
    "rpc_http": "the node at {url} answered HTTP {status}",
    "rpc_error": "the node answered {method}: error {code}: {message}",
    "rpc_bad_reply": "the node sent a reply that is not JSON-RPC: {detail}",
    "rpc_syncing": (
        "the node is still syncing (initial block download, {blocks} blocks of {headers} "
        "headers); try again when it has caught up"
    ),
    "rpc_cookie": "cannot read the cookie file {path}: {reason}",
    "rpc_chain": "the node is on chain {chain!r}, expected 'main' (--allow-chain accepts it)",
    "source_unstable": "the chain of {url} changed {times} times during the sync; try again",
    "source_chain": "{url} serves chain {chain!r}, expected 'main' (--allow-chain accepts it)",
    # public HTTP sources (mempool, an exchange)
    "http_unreachable": "cannot reach {url}: {reason}",
    "http_timeout": "no reply from {url} within {timeout_s:g} s (tried {attempts} times)",
    "http_status": "{url} answered HTTP {status} (tried {attempts} times)",
    "http_rate_limited": "{url} answered HTTP {status} and asks to wait {wait_s:g} s; try later",
    "http_bad_json": "{url}: the reply is not valid JSON ({problem})",
    "http_bad_reply": "{url}: {problem}",
    "sync_failed": "{detail}",
    # user arguments
    "bad_option": "{option}: {problem}",
    # instrument specs (every message names the field and the value)
    "spec_not_mapping": "an instrument spec must be a mapping of fields, got {value!r}",
    "spec_unknown_type": "field 'type': unknown instrument type {value!r} (known: {known})",
    "spec_unknown_field": "field {field!r}: unknown field (value {value!r}; known fields: {known})",
    "spec_retired_field": "field {field!r} (value {value!r}): {problem}",
    "spec_missing_field": "field {field!r}: missing (required by {type!r})",
    "spec_bad_type": "field {field!r}: value {value!r} is not {expected}",
    "spec_negative": "field {field!r}: value {value!r} must not be negative",
    "spec_not_positive": "field {field!r}: value {value!r} must be greater than zero",
    "spec_out_of_range": "field {field!r}: value {value!r} must be {bound}",
    "spec_order": "field {field!r}: value {value!r} is before {other!r} ({other_value!r})",
    "spec_unknown_currency": (
        "field {field!r}: unknown currency {value!r} (expected one of {known})"
    ),
    "spec_unknown_choice": "field {field!r}: unknown value {value!r} (expected one of {known})",
    "spec_tick": "field {field!r}: value {value!r} is not a multiple of the tick {tick}",
    "spec_exclusive": "fields {field!r} and {other!r}: give exactly one of them",
    # models and pricing
    "model_parameter": "model parameter {name!r} = {value!r}: {problem}",
    "calibration_data": "cannot calibrate as of {asof}: {problem}",
    "no_engine": "no {engine!r} engine for {instrument!r} (engines for it: {known})",
    "engine_model": "the {engine!r} engine for {instrument!r} needs {needs}",
    "mc_config": "Monte Carlo configuration: {problem}",
    "missing_fixings": "{instrument} needs fixings of {field!r} from {start} to {end}: {problem}",
    "expired": (
        "{instrument} has nothing left to value as of {asof}: its last fixing is {last} "
        "(a contract settles on its realized fixings, it is not priced)"
    ),
    "no_gpu_fixing": "no {gpu_model} {term} GPU-hour index fixing in {source}{when}",
    # ledger (result codes and their reasons: hashmarket.ledger.results)
    "bad_ledger_url": "{url!r} is not a ledger URL ({problem})",
    "ledger_not_found": "no ledger at {url} (create it with `hashmarket ledger init`)",
    "ledger_unreachable": "cannot open the ledger at {url}: {reason}",
    "schema_too_new": "the ledger at {url} has schema version {found}; this code knows {known}",
    "account_not_found": "no account {account!r}",
    "asset_not_found": "no asset {asset!r}",
    "transfer_refused": "transfer {transfer_id} refused: {result_code} ({reason})",
    "account_refused": "account {account_id} refused: {result_code} ({reason})",
    "asset_refused": "asset {asset} refused: {result_code} ({reason})",
    "import_refused": "import at {at} refused: {result_code} ({reason})",
    "ledger_invariant": "ledger invariant broken: {detail}",
    "backup_unsupported": "cannot back up the ledger at {url} from here: {how}",
    "ledger_tampered": "the journal refused a change: {detail}",
    # hashrate tokens
    "token_series_unknown": "no token series {series!r}",
    "token_series_invalid": "token series {series!r}: {field} {problem}",
    "token_refused": "{action} {series} refused: {result_code} ({reason})",
    "token_holder_unknown": "account {account} is not a holder of {series}",
    "token_day_outside_term": "{day} is outside the term of {series} ({start} to {end})",
    "token_day_not_over": "{day} is not over on the ledger clock (the cut is {cut})",
    "token_fixing": "fixing for {day}: {problem}",
    "token_proof": "proof {problem}",
    # GPU-hour index
    "no_quotes": "no quotes (the file has a header and no rows)",
    "quote_term": "not a term; expected one of {expected} (interruptible and preemptible are spot)",
    "quote_volume_mixed": (
        "blank volume, but other {model} {term} quotes of the period from {period} have one; "
        "give every quote of a fixing a volume, or none"
    ),
    "no_matching_quotes": "no quotes match {what}",
    # fleet economics
    "unknown_machine": (
        "unknown machine {name!r} (known: {known}; or give --hashrate-ths and --power-w)"
    ),
    "efficiency_mismatch": "does not match power_w / hashrate_ths ({computed} J/TH)",
    # dispatch
    "site_field": "field {field!r}: {problem}",
    "prices_gap": "{missing} hour(s) missing before this row (the previous row is {previous})",
    "prices_not_hourly": "not on a whole UTC hour",
    "dispatch_infeasible": "no feasible plan for site {site!r} ({policy}): {detail}",
    "needs_market_value": (
        "no {what} for the hours: add a {column!r} column to the prices file or set "
        "{field!r} in the site file"
    ),
    # risk, hedging and lending (every message names the field or the input)
    "risk_field": "field {field!r}: {problem}",
    "risk_option": "{name}: {problem}",
    "risk_history": "history: {problem}",
    "leverage_out_of_range": (
        "leverage {value}x is outside the allowed range {low}x to {high}x (field {field!r})"
    ),
    "loan_state": "loan {loan!r}: {problem}",
    "loan_refused": "loan {loan!r}: {action} refused: {result_code} ({reason})",
    "loan_account": "loan {loan!r}: {role} account {account!r}: {problem}",
    # settlement of bilateral contracts (hashmarket.ledger.settlement)
    "settle_contract_unknown": "no contract {contract!r}",
    "settle_party_unknown": (
        "no account {account!r} for the {side}: open it first (`hashmarket ledger account ID "
        "--asset {asset} --name {account}`) and fund its margin"
    ),
    "settle_contract_invalid": "contract {contract!r}: {field} {problem}",
    "settle_unsupported": (
        "a {type!r} is not settled between two counterparties (settled types: {known})"
    ),
    "settle_refused": "{action} of contract {contract!r} refused: {result_code} ({reason})",
    "settle_margin_refused": (
        "contract {contract!r}: the {party} (account {account}) cannot reserve the initial "
        "margin of {amount} {asset}: {result_code} ({reason})"
    ),
    "settle_day_not_over": "{day} is not over on the ledger clock (the cut is {cut})",
    "settle_fixings": "contract {contract!r}: {problem}",
    # delivery
    "delivery_log": "not a delivery log line: {problem}",
    "heartbeat_file": "not a heartbeat line: {problem}",
    "lease_terms": "lease {lease!r}: {field}: {problem}",
    "delivery_refused": "{action} of {what!r} refused: {problem}",
    # the exchange (hashmarket.market): every message names the command, field and value
    "market_field": "{command}: field {field!r}: value {value!r} {problem}",
    "market_unknown": "{command}: field {field!r}: unknown {what} {value!r} (known: {known})",
    "market_order_unknown": "{command}: no open order {order_id} of account {account}",
    "market_contract_unknown": "{command}: no running hashpower contract {contract_id}",
    "market_listing_unknown": "{command}: no open contract listing {listing_id}",
    "market_funds": (
        "{command}: account {account} cannot reserve {amount} {asset} for {what}: "
        "{result_code} ({reason})"
    ),
    "market_capacity": (
        "{command}: account {account} has {free} {unit} of registered capacity free {where}; "
        "the order needs {needed}"
    ),
    "market_log": "command log {where}: {problem}",
    "market_ledger": "ledger refused the exchange's {what}: {result_code} ({reason})",
    # cloud hashrate, hosting and machine leases on the ledger
    "finance_refused": "{product} {contract!r}: {action} refused: {result_code} ({reason})",
    "finance_state": "{product} {contract!r}: {problem}",
    # the lending reference rate (hashmarket.index.lending_rate, ledger.lending_book)
    "lending_row": "{problem}",
    "lending_book": "loan book {path}: {problem}",
    "no_lending_fixing": "no {currency} {tenor} lending-rate fixing {when}",
    # regional power prices and the regional margin index
    "power_price_column": "needs exactly one price column, with its unit ({expected})",
    "power_no_rows": "no power prices (the file has a header and no rows)",
    "power_duplicate": "a second price for {region} on this date (first on line {first_line})",
    "power_unknown_region": "no prices for region {region!r} (regions: {known})",
    "regional_no_days": "no power prices for {region} in {path} in the days asked for",
    "regional_power": "{instrument}: {problem}",
    # the hashrate fund (hashmarket.ledger.fund)
    "fund_refused": "{action} of fund {fund!r} refused: {problem}",
    "fund_ledger": "{action} of fund {fund!r} refused by the ledger: {result_code} ({reason})",
    "fund_not_ap": (
        "account {account} is not an authorised participant of fund {fund!r} (register it "
        "with `hashmarket fund register-ap`)"
    ),
    "fund_window": "{action} of fund {fund!r} for {day}: {problem}",
    "fund_tracking": "tracking error: {problem}",
}


class HashmarketError(Exception):
    """Base of every error Hashmarket raises on purpose."""

    exit_code: ClassVar[int] = 1

    def __init__(self, key: str, *, location: Location | None = None, **fields: Any) -> None:
        self.key = key
        self.location = location
        self.fields = fields
        template = MESSAGES.get(key, key)
        self.problem = template.format(**fields) if fields else template
        super().__init__(self._render())

    def _render(self) -> str:
        if self.location is None:
            return self.problem
        return f"{self.location}: {self.problem}"


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file a problem is: file, line (1-based, header is line 1), column, value."""

    file: str
    line: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ": ".join(parts)


class UsageError(HashmarketError):
    """A command-line or API argument that makes no sense."""

    exit_code = 2


class DataError(HashmarketError):
    """Input data (a CSV file, a node's reply) that cannot be accepted."""

    exit_code = 65  # EX_DATAERR


class ConsensusError(HashmarketError, ValueError):
    """An argument outside what Bitcoin's consensus rules define."""

    exit_code = 65


class SourceError(HashmarketError):
    """A data source (a Bitcoin Core node, a public API) that cannot be used right now."""

    exit_code = 69  # EX_UNAVAILABLE


class SpecError(HashmarketError, ValueError):
    """An instrument spec (or terms given in code) that describes no valid contract.

    ``fields["field"]`` and ``fields["value"]`` name the offending field and its value.
    """

    exit_code = 65


class ModelError(HashmarketError, ValueError):
    """Model parameters that describe no valid process, or history too thin to calibrate."""

    exit_code = 65


class PricingError(HashmarketError):
    """A pricing request that cannot be served (no engine, inconsistent configuration)."""

    exit_code = 2


class LedgerError(HashmarketError):
    """A ledger request refused, or a ledger that cannot be used.

    ``result_code`` is the enumerated code (``exceeds_credits``, ``linked_event_failed``…)
    when the refusal has one; a refused request has changed nothing.
    """

    exit_code = 1

    def __init__(
        self,
        key: str,
        *,
        result_code: str | None = None,
        location: Location | None = None,
        **fields: Any,
    ) -> None:
        self.result_code = result_code
        if result_code is not None:
            fields["result_code"] = result_code
        super().__init__(key, location=location, **fields)


class TransferRefusedError(LedgerError):
    """A transfer answered with a result code other than ``ok``."""


class AccountRefusedError(LedgerError):
    """An account (or an asset and its issuer account) that could not be opened."""


class LedgerUnavailableError(LedgerError):
    """A URL that names no usable ledger: malformed, missing, unreachable or too new."""

    exit_code = 69  # EX_UNAVAILABLE


class LedgerInvariantError(LedgerError):
    """A checked invariant that does not hold: stop, do not continue in an incorrect state."""

    exit_code = 70  # EX_SOFTWARE


class TokenError(LedgerError):
    """A hashrate-token operation refused (unknown series, beyond backing, day not over…)."""


class RiskError(HashmarketError, ValueError):
    """A portfolio, miner profile or loan that describes nothing valuable, a risk option that
    makes no sense, or a loan action that its state forbids; ``fields["field"]`` names the
    offending field where there is one."""

    exit_code = 65


class DeliveryError(HashmarketError):
    """A proof-of-delivery request that cannot be served: lease or contract terms that make no
    sense, a refund already settled differently, an endpoint that cannot start."""

    exit_code = 65


class SettlementError(LedgerError):
    """A settlement request refused: a contract that cannot be opened (unknown type, a party
    without the funds for its initial margin), a day not over, fixings not published. A
    refused request has changed nothing; a payer short of funds is not an error but a
    margin call, recorded in the contract's state."""


class MarketError(HashmarketError, ValueError):
    """An exchange command refused (bad price, size or window, unknown market or order, not
    enough funds, capacity or margin), or a command log that does not verify. A refused
    command is not logged and reserves nothing; ``fields["field"]`` names the offending
    field where there is one."""

    exit_code = 65


class FinanceError(LedgerError):
    """A cloud-hashrate, hosting or machine-lease booking refused (a party short of funds,
    a contract not bought, fixings not published). A refused booking has changed nothing."""


class FundError(LedgerError):
    """A hashrate-fund operation refused (not an authorised participant, a day outside its
    dealing window, a basket the participant cannot deliver) or a fund figure that cannot be
    computed. A refused operation has changed nothing."""
