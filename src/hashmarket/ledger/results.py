"""Result codes: every ledger request is answered with one of these, never with free text.

Codes are listed in order of precedence (as in TigerBeetle's ``create_transfers`` reference):
when a request has several problems, the first applicable code in the list is the one
returned, so the answer to a given request in a given state is always the same.

A batch is answered with one code per request, in order. A replay of an applied transfer
(same id, same fields) answers ``ok`` again, exactly as the first time, and applies nothing.
"""

from __future__ import annotations

import enum


class CreateTransferResult(enum.StrEnum):
    OK = "ok"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    IMPORTED_EVENT_NOT_EXPECTED = "imported_event_not_expected"
    IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE = "imported_event_timestamp_out_of_range"
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE = "imported_event_timestamp_must_not_advance"
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS = "imported_event_timestamp_must_not_regress"
    ID_MUST_BE_POSITIVE = "id_must_be_positive"
    FLAGS_INVALID = "flags_invalid"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    DEBIT_ACCOUNT_ID_INVALID = "debit_account_id_invalid"
    CREDIT_ACCOUNT_ID_INVALID = "credit_account_id_invalid"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    PENDING_ID_MUST_BE_ZERO = "pending_id_must_be_zero"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    REVERSES_ID_MUST_BE_ZERO = "reverses_id_must_be_zero"
    REVERSES_ID_REQUIRED = "reverses_id_required"
    TIMEOUT_INVALID = "timeout_invalid"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    AMOUNT_MUST_BE_INTEGER = "amount_must_be_integer"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_TOO_LARGE = "amount_too_large"
    CODE_INVALID = "code_invalid"
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_REVERSES_ID = "exists_with_different_reverses_id"
    EXISTS_WITH_DIFFERENT_TIMEOUT = "exists_with_different_timeout"
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = "exists_with_different_debit_account_id"
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = "exists_with_different_credit_account_id"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_CODE = "exists_with_different_code"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_ASSET = "accounts_must_have_the_same_asset"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = (
        "pending_transfer_has_different_debit_account_id"
    )
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = (
        "pending_transfer_has_different_credit_account_id"
    )
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    REVERSED_TRANSFER_NOT_FOUND = "reversed_transfer_not_found"
    TRANSFER_NOT_REVERSIBLE = "transfer_not_reversible"
    TRANSFER_ALREADY_REVERSED = "transfer_already_reversed"
    REVERSAL_MUST_SWAP_ACCOUNTS = "reversal_must_swap_accounts"
    REVERSAL_HAS_DIFFERENT_AMOUNT = "reversal_has_different_amount"
    OVERFLOWS_DEBITS_PENDING = "overflows_debits_pending"
    OVERFLOWS_CREDITS_PENDING = "overflows_credits_pending"
    OVERFLOWS_DEBITS_POSTED = "overflows_debits_posted"
    OVERFLOWS_CREDITS_POSTED = "overflows_credits_posted"
    OVERFLOWS_DEBITS = "overflows_debits"
    OVERFLOWS_CREDITS = "overflows_credits"
    OVERFLOWS_TIMEOUT = "overflows_timeout"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    IMPORTED_EVENT_TIMEOUT_MUST_BE_ZERO = "imported_event_timeout_must_be_zero"

    @property
    def reason(self) -> str:
        return TRANSFER_REASONS.get(self.value, self.value.replace("_", " "))


class CreateAccountResult(enum.StrEnum):
    OK = "ok"
    IMPORTED_EVENT_NOT_EXPECTED = "imported_event_not_expected"
    IMPORTED_EVENT_TIMESTAMP_OUT_OF_RANGE = "imported_event_timestamp_out_of_range"
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_ADVANCE = "imported_event_timestamp_must_not_advance"
    IMPORTED_EVENT_TIMESTAMP_MUST_NOT_REGRESS = "imported_event_timestamp_must_not_regress"
    ID_MUST_BE_POSITIVE = "id_must_be_positive"
    FLAGS_INVALID = "flags_invalid"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    CODE_INVALID = "code_invalid"
    NAME_INVALID = "name_invalid"
    ASSET_NOT_FOUND = "asset_not_found"
    ISSUER_MUST_BE_CREATED_WITH_ASSET = "issuer_must_be_created_with_asset"
    NON_ISSUER_MUST_LIMIT_DEBITS = "non_issuer_must_limit_debits"
    EXISTS_WITH_DIFFERENT_ASSET = "exists_with_different_asset"
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_CODE = "exists_with_different_code"
    EXISTS_WITH_DIFFERENT_NAME = "exists_with_different_name"
    NAME_ALREADY_USED = "name_already_used"

    @property
    def reason(self) -> str:
        return ACCOUNT_REASONS.get(self.value, self.value.replace("_", " "))


class CreateAssetResult(enum.StrEnum):
    OK = "ok"
    ASSET_CODE_INVALID = "asset_code_invalid"
    SCALE_INVALID = "scale_invalid"
    ISSUER_ACCOUNT_INVALID = "issuer_account_invalid"
    EXISTS_WITH_DIFFERENT_SCALE = "exists_with_different_scale"
    EXISTS_WITH_DIFFERENT_ISSUER = "exists_with_different_issuer"
    ISSUER_ACCOUNT_ID_ALREADY_USED = "issuer_account_id_already_used"
    NAME_ALREADY_USED = "name_already_used"

    @property
    def reason(self) -> str:
        return ASSET_REASONS.get(self.value, self.value.replace("_", " "))


IMPORT_REASONS: dict[str, str] = {
    "imported_event_not_expected": "the IMPORTED flag is set by an import (a write given a "
    "timestamp), not sent on its own",
    "imported_event_timestamp_out_of_range": "an import timestamp is 1 to 2**63 - 1 ns since 1970",
    "imported_event_timestamp_must_not_advance": "an import timestamp cannot be in the future of "
    "the ledger clock",
    "imported_event_timestamp_must_not_regress": "an import timestamp must be after the ledger's "
    "last event (imports load history in order, before any live event)",
    "imported_event_timeout_must_be_zero": "an imported pending transfer cannot expire",
}

TRANSFER_REASONS: dict[str, str] = {
    **IMPORT_REASONS,
    "ok": "applied",
    "linked_event_failed": "another transfer of its linked chain was refused",
    "linked_event_chain_open": "the last transfer of the batch is LINKED, so its chain never ends",
    "id_must_be_positive": "transfer ids are integers from 1 to 2**63 - 1",
    "flags_invalid": "unknown flags (EXPIRY is written by the ledger only)",
    "flags_are_mutually_exclusive": "at most one of PENDING, POST_PENDING, VOID_PENDING, REVERSAL",
    "debit_account_id_invalid": "account ids are integers from 1 to 2**63 - 1",
    "credit_account_id_invalid": "account ids are integers from 1 to 2**63 - 1",
    "accounts_must_be_different": "the debit and credit accounts are the same",
    "pending_id_must_be_zero": "only a post or a void names a pending transfer",
    "pending_id_required": "a post or a void must name the pending transfer",
    "pending_id_must_be_different": "a transfer cannot post or void itself",
    "reverses_id_must_be_zero": "only a reversal names the transfer it reverses",
    "reverses_id_required": "a reversal must name the transfer it reverses",
    "timeout_invalid": "the timeout is a whole number of seconds from 0 to 2**63 - 1",
    "timeout_reserved_for_pending_transfer": "only a pending transfer can have a timeout",
    "amount_must_be_integer": "amounts are Python int in the asset's smallest unit",
    "amount_must_be_positive": "the amount must be greater than zero",
    "amount_too_large": "the amount does not fit 64 bits",
    "code_invalid": "the code is an integer from 0 to 65535",
    "exists_with_different_flags": "this id was used for a transfer with other flags",
    "exists_with_different_pending_id": "this id was used for a transfer with another pending_id",
    "exists_with_different_reverses_id": "this id was used for another reversal",
    "exists_with_different_timeout": "this id was used for a transfer with another timeout",
    "exists_with_different_debit_account_id": "this id was used with another debit account",
    "exists_with_different_credit_account_id": "this id was used with another credit account",
    "exists_with_different_amount": "this id was used for a transfer of another amount",
    "exists_with_different_code": "this id was used for a transfer with another code",
    "debit_account_not_found": "no account has the debit account id",
    "credit_account_not_found": "no account has the credit account id",
    "accounts_must_have_the_same_asset": "the two accounts hold different assets",
    "pending_transfer_not_found": "no transfer has the pending_id",
    "pending_transfer_not_pending": "the transfer named by pending_id is not a pending transfer",
    "pending_transfer_has_different_debit_account_id": "the reservation has another debit account",
    "pending_transfer_has_different_credit_account_id": (
        "the reservation has another credit account"
    ),
    "pending_transfer_already_posted": "the reservation was already posted",
    "pending_transfer_already_voided": "the reservation was already voided",
    "pending_transfer_expired": "the reservation expired on the ledger clock",
    "exceeds_pending_transfer_amount": "a post cannot take more than was reserved",
    "pending_transfer_has_different_amount": "a void releases the whole reservation (amount 0)",
    "reversed_transfer_not_found": "no transfer has the reverses_id",
    "transfer_not_reversible": "only posted movements (transfers, posts, reversals) reverse",
    "transfer_already_reversed": "that transfer was already reversed",
    "reversal_must_swap_accounts": "a reversal debits the original credit account and credits "
    "the original debit account",
    "reversal_has_different_amount": "a reversal moves the original amount back",
    "overflows_debits_pending": "the debit account's pending debits would pass 2**63 - 1",
    "overflows_credits_pending": "the credit account's pending credits would pass 2**63 - 1",
    "overflows_debits_posted": "the debit account's posted debits would pass 2**63 - 1",
    "overflows_credits_posted": "the credit account's posted credits would pass 2**63 - 1",
    "overflows_debits": "the debit account's debits would pass 2**63 - 1",
    "overflows_credits": "the credit account's credits would pass 2**63 - 1",
    "overflows_timeout": "the expiry time would pass the ledger clock's range",
    "exceeds_credits": "the debit account would spend more than it holds",
    "exceeds_debits": "the credit account would be credited beyond its debits",
}

ACCOUNT_REASONS: dict[str, str] = {
    **IMPORT_REASONS,
    "ok": "opened",
    "id_must_be_positive": "account ids are integers from 1 to 2**63 - 1",
    "flags_invalid": "unknown account flags",
    "flags_are_mutually_exclusive": "an account limits debits or credits, not both",
    "code_invalid": "the code is an integer from 0 to 65535",
    "name_invalid": "a name is 1 to 128 printable characters and not a number",
    "asset_not_found": "no such asset; create the asset (with its issuer) first",
    "issuer_must_be_created_with_asset": "an asset's issuer account is opened with the asset",
    "non_issuer_must_limit_debits": "only an issuer may be debited beyond its credits; other "
    "accounts need DEBITS_MUST_NOT_EXCEED_CREDITS",
    "exists_with_different_asset": "this id was used for an account of another asset",
    "exists_with_different_flags": "this id was used for an account with other flags",
    "exists_with_different_code": "this id was used for an account with another code",
    "exists_with_different_name": "this id was used for an account with another name",
    "name_already_used": "another account has this name",
}

ASSET_REASONS: dict[str, str] = {
    "ok": "created",
    "asset_code_invalid": "asset codes are 1-16 upper-case letters, digits, '_' or '-'",
    "scale_invalid": "the scale is an integer from 0 to 18",
    "issuer_account_invalid": "the issuer account must be new, of this asset, with a valid id",
    "exists_with_different_scale": "the asset exists with another scale",
    "exists_with_different_issuer": "the asset exists with another issuer account",
    "issuer_account_id_already_used": "the issuer account id belongs to another account",
    "name_already_used": "another account has the issuer account's name",
}
