"""The catalogue of ASIC models (``asic_models.csv``): each machine's hashrate, power and
published efficiency, checked against each other on reading."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from hashmarket.chain.sources import Column, Schema, read_csv
from hashmarket.errors import DataError, Location, UsageError

if TYPE_CHECKING:
    pass

from hashmarket.operations.fleet import Machine

CATALOGUE_FILE = "asic_models.csv"
# The catalogue states each machine's efficiency as published (rounded); it must agree with
# power / hashrate to this relative tolerance, or a figure was mistyped.
EFFICIENCY_TOLERANCE = 0.02


CATALOGUE_SCHEMA = Schema(
    columns=(
        Column("model", "text", blank_ok=False),
        Column("maker", "text", blank_ok=False),
        Column("hashrate_ths", "float", blank_ok=False, positive=True),
        Column("power_w", "float", blank_ok=False, positive=True),
        Column("efficiency_j_per_th", "float", blank_ok=False, positive=True),
        Column("release_year", "int"),
        Column("source", "text", blank_ok=False),
        Column("note", "text"),
    ),
    key="model",
)


@dataclass(frozen=True)
class Catalogue:
    """ASIC models by name; look-ups forgive case, spaces, hyphens and the brand word."""

    machines: tuple[Machine, ...]
    _by_key: dict[str, Machine] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Machine] = {}
        for m in self.machines:
            index[_name_key(m.model)] = m
        # "S21" finds "Antminer S21": the name without its first word, where unambiguous.
        short: dict[str, list[Machine]] = {}
        for m in self.machines:
            words = m.model.split(maxsplit=1)
            if len(words) == 2:
                short.setdefault(_name_key(words[1]), []).append(m)
        for key, found in short.items():
            if len(found) == 1 and key not in index:
                index[key] = found[0]
        object.__setattr__(self, "_by_key", index)

    def get(self, name: str) -> Machine:
        try:
            return self._by_key[_name_key(name)]
        except KeyError:
            known = ", ".join(m.model for m in self.machines)
            raise UsageError("unknown_machine", name=name, known=known) from None

    def __iter__(self) -> Iterator[Machine]:
        return iter(self.machines)

    def __len__(self) -> int:
        return len(self.machines)


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", name.lower())


def read_catalogue(path: Path | str, *, display_name: str | None = None) -> Catalogue:
    """Read a catalogue CSV (same columns as the bundled one), validated strictly."""
    name = display_name or str(path)
    table = read_csv(path, CATALOGUE_SCHEMA, display_name=name)
    c = table.columns
    machines = []
    for i, line in enumerate(table.lines):
        hashrate, power = c["hashrate_ths"][i], c["power_w"][i]
        stated = c["efficiency_j_per_th"][i]
        if abs(power / hashrate - stated) > EFFICIENCY_TOLERANCE * stated:
            raise DataError(
                "efficiency_mismatch",
                location=Location(name, line, "efficiency_j_per_th", str(stated)),
                computed=round(power / hashrate, 2),
            )
        machines.append(
            Machine(
                model=c["model"][i],
                maker=c["maker"][i],
                hashrate_ths=float(hashrate),
                power_w=float(power),
                release_year=c["release_year"][i],
                source=c["source"][i],
            )
        )
    return Catalogue(tuple(machines))


def catalogue_path() -> Path:
    return Path(str(resources.files("hashmarket.data").joinpath(CATALOGUE_FILE)))


def load_catalogue() -> Catalogue:
    """The bundled catalogue of ASIC models with the makers' published figures."""
    return read_catalogue(catalogue_path(), display_name=CATALOGUE_FILE)
