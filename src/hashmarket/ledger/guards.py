"""Are the schema's guards still in place? The append-only triggers and the constraints.

The hash chains make a rewrite visible after the fact; the guards are what refuse it in the
first place, and an owner can drop them. ``check_guards`` compares the database's catalogue
with what the migrations created (:mod:`.migrations` is the one source of what to expect):

* SQLite: every table, index and trigger the migrations created is in ``sqlite_master`` with
  the same statement (whitespace aside), so a trigger replaced by a harmless one of the same
  name, or a table rebuilt without its constraints, is found too;
* PostgreSQL: every trigger exists on its table, is enabled and calls
  ``hashmarket_append_only``, whose body still raises; every index exists and is valid (and
  unique where created unique); every primary key, CHECK and UNIQUE constraint and every
  NOT NULL column is there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hashmarket.ledger import verify_store
from hashmarket.ledger.migrations import MIGRATIONS
from hashmarket.ledger.store import Store

_IF = r"(?:IF NOT EXISTS )?"
_OBJECT = re.compile(rf"CREATE (TABLE|UNIQUE INDEX|INDEX|TRIGGER) {_IF}(\w+)")
_TRIGGER = re.compile(
    rf"CREATE TRIGGER {_IF}(\w+) (?:BEFORE|AFTER|INSTEAD OF) .*? ON (\w+).*?"
    r"EXECUTE (?:FUNCTION|PROCEDURE) (\w+)\(",
    re.S,
)
_INDEX = re.compile(rf"CREATE (UNIQUE )?INDEX {_IF}(\w+) ON (\w+)")
_TABLE = re.compile(rf"CREATE TABLE {_IF}(\w+) \((.*)\)", re.S)
_FUNCTION = re.compile(r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\(.*?\$\$(.*)\$\$", re.S)


def _squeeze(sql: str) -> str:
    return " ".join(sql.split())


@dataclass
class _PgExpected:
    triggers: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> table, function
    indexes: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> table, unique
    constraints: set[tuple[str, str]] = field(default_factory=set)
    not_null: set[tuple[str, str]] = field(default_factory=set)
    functions: dict[str, str] = field(default_factory=dict)  # name -> body, squeezed


def _sqlite_expected() -> dict[str, tuple[str, str]]:
    """name -> (table, index or trigger; its CREATE statement)."""
    expected: dict[str, tuple[str, str]] = {}
    for step in MIGRATIONS:
        for statement in step.sqlite:
            found = _OBJECT.match(statement.strip())
            if found:
                kind = found.group(1).split()[-1].lower()
                # sqlite_master keeps the statement without its IF NOT EXISTS.
                text = _squeeze(statement).replace(" IF NOT EXISTS", "", 1)
                expected[found.group(2)] = (kind, text)
    return expected


def _table_constraints(statement: str, out: _PgExpected) -> None:
    found = _TABLE.match(statement.strip())
    if not found:
        return
    table, body = found.groups()
    if "PRIMARY KEY" in body:
        out.constraints.add((table, "p"))
    if "CHECK (" in body:
        out.constraints.add((table, "c"))
    for line in body.split(","):
        words = line.split()
        if not words or words[0] == "PRIMARY":
            continue
        if "UNIQUE" in words:
            out.constraints.add((table, "u"))
        if "NOT NULL" in line or "PRIMARY KEY" in line:
            out.not_null.add((table, words[0]))


def _pg_expected() -> _PgExpected:
    out = _PgExpected()
    for step in MIGRATIONS:
        for statement in step.postgresql:
            text = statement.strip()
            if trigger := _TRIGGER.match(text):
                out.triggers[trigger.group(1)] = (trigger.group(2), trigger.group(3))
            elif index := _INDEX.match(text):
                out.indexes[index.group(2)] = (index.group(3), bool(index.group(1)))
            elif function := _FUNCTION.match(text):
                out.functions[function.group(1)] = _squeeze(function.group(2))
            else:
                _table_constraints(text, out)
    return out


def check_guards(store: Store) -> list[str]:
    """Problems with the schema's guards, each naming what is missing or altered."""
    if store.dialect == "sqlite":
        return _check_sqlite(store)
    return _check_postgresql(store)


def _check_sqlite(store: Store) -> list[str]:
    found = verify_store.sqlite_schema(store)
    out: list[str] = []
    for name, (kind, statement) in _sqlite_expected().items():
        have = found.get(name)
        if have is None:
            out.append(f"schema: {kind} {name} is missing")
        elif have[2] is None or _squeeze(have[2]) != statement:
            out.append(f"schema: {kind} {name} is not the one the migrations created")
    return out


def _check_postgresql(store: Store) -> list[str]:
    expected = _pg_expected()
    out: list[str] = []
    triggers = verify_store.pg_triggers(store)
    for name, (table, function) in expected.triggers.items():
        have = triggers.get(name)
        body = expected.functions.get(function)
        if have is None or have[0] != table:
            out.append(f"schema: trigger {name} on {table} is missing")
        elif have[1] == "D":
            out.append(f"schema: trigger {name} on {table} is disabled")
        elif have[2] != function or (body is not None and _squeeze(have[3]) != body):
            out.append(f"schema: trigger {name} does not call {function}() as created")
    indexes = verify_store.pg_indexes(store)
    for name, (table, unique) in expected.indexes.items():
        index = indexes.get(name)
        if index is None or index[0] != table or not index[2]:
            out.append(f"schema: index {name} on {table} is missing or invalid")
        elif unique and not index[1]:
            out.append(f"schema: index {name} on {table} is no longer unique")
    kinds = {"p": "primary key", "c": "CHECK constraint", "u": "UNIQUE constraint"}
    for table, kind in sorted(expected.constraints - verify_store.pg_constraints(store)):
        out.append(f"schema: the {kinds[kind]} of {table} is missing")
    for table, column in sorted(expected.not_null - verify_store.pg_not_null_columns(store)):
        out.append(f"schema: {table}.{column} is no longer NOT NULL")
    return out
