"""A PostgreSQL role for the service that can append to the ledger but not rewrite it.

The append-only triggers refuse UPDATE and DELETE, but the owner of a table can drop them.
The service (``hashmarket serve``, the daily jobs) need not be that owner: it needs to read
every table, insert into every table, and update only the tables whose rows change —
``ledger_head`` (the journal's tip, also the writers' lock), ``balances`` (the cached
counters) and ``idempotency_records`` (the HTTP service's request claims, which are not
ledger state: a claim is completed with its response, or deleted when its request failed).
:func:`service_role_sql` grants exactly that on the ledger's schema and revokes the rest, so
with this role an UPDATE or DELETE of a journal row fails on privileges before any trigger
runs, and dropping a trigger needs the owner.

Migrations create tables, so they run as the owner: open the ledger once with the owner's URL
after upgrading hashmarket, then grant again (new tables get the same rights).
"""

from __future__ import annotations

import re

from hashmarket.errors import UsageError

# Tables whose rows the service updates; every other table is read and appended to only.
MUTABLE_TABLES = ("ledger_head", "balances", "idempotency_records")
# Tables whose rows the service may delete: only request claims, never ledger state.
DELETABLE_TABLES = ("idempotency_records",)
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def service_role_sql(role: str, schema: str) -> list[str]:
    """GRANT and REVOKE statements giving ``role`` append-only rights on ``schema``."""
    for name, value in (("ROLE", role), ("schema", schema)):
        if not _IDENTIFIER.fullmatch(value):
            raise UsageError(
                "bad_option",
                option=name,
                problem=f"{value!r} must be lower-case letters, digits and '_'",
            )
    tables = f"ALL TABLES IN SCHEMA {schema}"
    mutable = ", ".join(f"{schema}.{t}" for t in MUTABLE_TABLES)
    deletable = ", ".join(f"{schema}.{t}" for t in DELETABLE_TABLES)
    return [
        f"REVOKE ALL ON {tables} FROM {role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT, INSERT ON {tables} TO {role}",
        f"GRANT UPDATE ON {mutable} TO {role}",
        f"GRANT DELETE ON {deletable} TO {role}",
        f"REVOKE CREATE ON SCHEMA {schema} FROM {role}",
    ]
