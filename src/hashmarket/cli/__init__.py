"""The ``hashmarket`` command line: one Typer sub-app per domain, assembled in ``app``."""

from hashmarket.cli.app import app, main

__all__ = ["app", "main"]
