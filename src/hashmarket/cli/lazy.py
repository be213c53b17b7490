"""Sub-commands imported only when they run.

A command's module pulls in its layer (pandas, scipy, the pricing engines, FastAPI…), which
takes seconds; ``hashmarket --help`` needs none of it, and ``hashmarket index hashprice`` needs
only the index. A :class:`LazyGroup` knows each sub-command by name, the ``module:attribute``
that defines it (a function or a Typer sub-app) and the one-line help its listing shows, and
imports the module when the sub-command is looked up for anything but that listing.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import typer
from typer._click import Command, Context, HelpFormatter
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup


@dataclasses.dataclass(frozen=True)
class LazyCommand:
    """``target`` is ``"package.module:attribute"``; ``help`` is the first paragraph of the
    command's own help, shown when its group lists its sub-commands."""

    target: str
    help: str

    def load(self, name: str) -> Command:
        """The command as ``add_typer``/``command`` would have registered it under ``name``."""
        module, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer(add_completion=False)
        if isinstance(obj, typer.Typer):
            holder.add_typer(obj, name=name)
        else:
            holder.command(name)(obj)
        holder.callback()(lambda: None)  # with a callback Typer builds a group even for one
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[name]


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands are :class:`LazyCommand` s (see :func:`lazy_group`)."""

    lazy_commands: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    @contextmanager
    def _listing_help(self) -> Iterator[None]:
        self._listing, before = True, self._listing
        try:
            yield
        finally:
            self._listing = before

    def list_commands(self, ctx: Context) -> list[str]:
        eager = [n for n in super().list_commands(ctx) if n not in self.lazy_commands]
        return [*self.lazy_commands, *eager]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        lazy = self.lazy_commands.get(cmd_name)
        if command is not None or lazy is None:
            return command
        if self._listing:
            return TyperCommand(cmd_name, help=lazy.help)
        command = lazy.load(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        # Typer suggests a near name among the commands already loaded: offer all of them.
        try:
            return super().resolve_command(ctx, args)
        except UsageError as error:
            near = difflib.get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if self.suggest_commands and near and "Did you mean" not in error.message:
                names = ", ".join(repr(n) for n in near)
                error.message = f"{error.message.rstrip('.')}. Did you mean {names}?"
            raise

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        with self._listing_help():
            super().format_help(ctx, formatter)


def lazy_group(commands: dict[str, LazyCommand]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class with these sub-commands, for ``typer.Typer(cls=...)``, in
    the order its help lists them."""
    return type("LazyGroup", (LazyGroup,), {"lazy_commands": dict(commands)})
