"""The CLI and the package import only what a command uses.

``hashmarket --help`` lists every command from the one-line help kept next to its name, without
importing the command's module; these tests hold that listing to the commands' own help and
check, in a fresh interpreter, which heavy libraries a command really loads.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click import Context
from typer.core import TyperGroup
from typer.testing import CliRunner

from hashmarket._lazy import exported_names
from hashmarket.cli.app import app
from hashmarket.cli.lazy import LazyGroup

HEAVY = ("numpy", "pandas", "scipy", "fastapi", "dask", "distributed", "hashmarket.cli.index")


def modules_loaded_by(*args: str) -> tuple[str, list[str]]:
    """Run ``hashmarket ARGS`` in a fresh interpreter: its output, and which of ``HEAVY``
    it imported."""
    code = (
        "import io, json, sys\n"
        "from contextlib import redirect_stdout\n"
        "from hashmarket.cli.app import main\n"
        f"sys.argv = ['hashmarket', *{list(args)!r}]\n"
        "out = io.StringIO()\n"
        "with redirect_stdout(out):\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps([out.getvalue(), [m for m in {list(HEAVY)!r} if m in sys.modules]]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )
    output, loaded = json.loads(done.stdout)
    return output, loaded


@pytest.mark.parametrize("args", [("--help",), ("index", "--help"), ()])
def test_help_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    output, loaded = modules_loaded_by(*args)
    assert "Commands" in output
    assert loaded == []


def test_the_index_command_loads_pandas_but_not_scipy_or_fastapi() -> None:
    output, loaded = modules_loaded_by("index", "hashprice", "--last", "3", "--format", "json")
    assert len(json.loads(output)) == 3
    assert "pandas" in loaded
    assert "scipy" not in loaded and "fastapi" not in loaded


@pytest.mark.parametrize("command", ["price", "risk", "curve"])
def test_monte_carlo_commands_import_dask_only_when_a_cluster_is_used(command: str) -> None:
    # The command's module (and the Monte Carlo engine with its --scheduler option) is loaded
    # to print its help; the Dask client is not.
    output, loaded = modules_loaded_by(command, "--help")
    assert "Usage" in output
    assert "dask" not in loaded and "distributed" not in loaded


def lazy_groups(group: TyperGroup) -> list[tuple[str, LazyGroup]]:
    found: list[tuple[str, LazyGroup]] = []
    if isinstance(group, LazyGroup):
        found.append((group.name or "", group))
        for name in group.lazy_commands:
            sub = group.get_command(Context(group), name)
            if isinstance(sub, TyperGroup):
                found.extend(lazy_groups(sub))
    return found


def test_each_listed_help_line_is_the_commands_own() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    groups = lazy_groups(root)
    assert {name for name, _ in groups} == {"hashmarket", "index"}
    for _, group in groups:
        for name, lazy in group.lazy_commands.items():
            command = group.get_command(Context(group), name)
            assert command is not None
            # Click lists a help's first paragraph with its line breaks as spaces.
            own = " ".join((command.help or "").split("\n\n")[0].split())
            assert lazy.help == own, f"{name}: listed {lazy.help!r}, its help says {own!r}"
            assert command.name == name


@pytest.mark.parametrize("args", [["--help"], ["index", "--help"]])
def test_help_is_the_same_as_with_the_commands_imported(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    lazy = runner.invoke(app, args, env={"COLUMNS": "100"})
    # A plain group's help looks every command up, which imports it.
    monkeypatch.setattr(LazyGroup, "format_help", TyperGroup.format_help)
    imported = runner.invoke(app, args, env={"COLUMNS": "100"})
    assert lazy.exit_code == imported.exit_code == 0
    assert lazy.output == imported.output
    assert "hashprice" in lazy.output


PACKAGES = ["hashmarket", *(f"hashmarket.{p}" for p in ("api", "instruments", "models"))]
PACKAGES += [f"hashmarket.{p}" for p in ("delivery", "operations", "pricing", "reports", "risk")]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_of_a_lazy_package_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    exported = exported_names(module.__file__)
    assert set(exported) <= set(module.__all__)
    assert set(module.__all__) - set(exported) <= {"__version__"}
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None
        assert name in dir(module)
    assert not hasattr(module, "no_such_name")


def test_importing_the_package_imports_no_heavy_library() -> None:
    code = f"import sys, hashmarket; print([m for m in {list(HEAVY)!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_pricing_engines_are_registered_whichever_module_comes_first() -> None:
    code = (
        "from hashmarket.pricing.registry import engines_for\n"
        "from hashmarket.instruments.options import EuropeanOption\n"
        "print(engines_for(EuropeanOption))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent,
    )
    assert done.stdout.strip() == "['analytic', 'mc']"


def test_a_mistyped_command_gets_the_near_names_of_unloaded_commands() -> None:
    result = CliRunner().invoke(app, ["indx"], env={"COLUMNS": "100"})
    assert result.exit_code == 2
    assert "No such command 'indx'. Did you mean 'index'?" in result.output


def test_a_name_that_is_also_a_submodule_is_the_exported_object() -> None:
    code = (
        "import hashmarket.models.network\n"
        "import hashmarket.models.calibrate\n"
        "from hashmarket.models import calibrate\n"
        "print(callable(calibrate), type(calibrate).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "function"]
