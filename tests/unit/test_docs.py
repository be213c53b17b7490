"""Every command is documented: each CLI command appears in the README with an example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer
from typer._click import Context
from typer.core import TyperGroup

from hashmarket.cli.app import app

README = Path(__file__).resolve().parents[2] / "README.md"


def command_paths(command: object, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every leaf command, through the group API (sub-commands are imported on lookup)."""
    if isinstance(command, TyperGroup):
        context = Context(command)
        for name in command.list_commands(context):
            yield from command_paths(command.get_command(context, name), (*prefix, name))
    else:
        yield " ".join(prefix)


def test_every_cli_command_has_an_example_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    commands = sorted(command_paths(typer.main.get_command(app)))
    assert len(commands) > 30
    missing = [c for c in commands if f"hashmarket {c}" not in text]
    assert not missing, f"commands without an example in README.md: {missing}"
