"""Every shell and Python example in README.md and docs/*.md runs as written.

Each ```sh block and ```python block is one test, run in file order in one scratch directory
per file: a fresh ``HASHMARKET_DATA_DIR``, a ``HOME`` of its own, and a copy of ``examples/``
so relative paths work, against the bundled data. Shell blocks are split into commands
(``\\`` continuations joined, here-documents kept whole) and each runs through ``bash`` with
the installed ``hashmarket`` first on ``PATH``; Python blocks share one namespace per file.

What cannot run as written is marked in the markdown, in HTML comments right above the block:

* ``<!-- docs-test: skip (reason) -->`` — the whole block;
* ``<!-- docs-test: skip-line "TEXT" (reason) -->`` — the commands containing TEXT;
* ``<!-- docs-test: replace "OLD" "NEW" -->`` — run the block with OLD replaced by NEW
  (e.g. fewer Monte Carlo paths).

Commands that move money are checked on the ledger itself (``CHECKS``); the long-running
service is started and asked for its pages (``serve``); placeholders a reader fills in from an
earlier output (``CONTRACT_ID``, ``KEY_ID``) or with a file of their own (``QUOTES.csv``) are
filled in the same way (``PLACEHOLDERS``, ``FILES``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 300

# Blocks that fail today, by id; each is still run and reported (xfail, not strict).
KNOWN_BROKEN: dict[str, str] = {}


# -- reading the markdown ---------------------------------------------------------------------

DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(?P<body>.*?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    file: Path
    line: int  # of the opening fence
    lang: str
    code: str
    heading: str
    directives: tuple[str, ...]
    id: str = ""

    def _matching(self, pattern: str) -> list[re.Match[str]]:
        return [m for d in self.directives if (m := re.fullmatch(pattern, d))]

    @property
    def skip_reason(self) -> str | None:
        found = self._matching(r"skip(?:\s+\((?P<why>.*)\))?")
        return (found[0]["why"] or "marked skip") if found else None

    def skipped_lines(self) -> list[tuple[str, str]]:
        found = self._matching(r'skip-line\s+"(?P<text>[^"]+)"\s*(?:\((?P<why>.*)\))?')
        return [(m["text"], m["why"] or "marked skip-line") for m in found]

    def replacements(self) -> list[tuple[str, str]]:
        found = self._matching(r'replace\s+"(?P<old>[^"]*)"\s+"(?P<new>[^"]*)"')
        return [(m["old"], m["new"]) for m in found]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def blocks_of(path: Path) -> list[Block]:
    """The ```sh and ```python blocks of a markdown file, with the directives above each."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    heading, pending, i = path.stem, [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        directive = DIRECTIVE.fullmatch(line.strip())
        if directive:
            pending.append(directive["body"])
            i += 1
            continue
        fence = FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence["lang"] in ("sh", "python"):
                code = "\n".join(lines[i + 1 : end]) + "\n"
                blocks.append(Block(path, i + 1, fence["lang"], code, heading, tuple(pending)))
            i = end
        if line.strip():
            pending = []
        i += 1
    # Ids from the file and the heading above, stable when lines move.
    named: list[Block] = []
    for block in blocks:
        base = f"{block.file.name}#{slug(block.heading)}"
        same = [b for b in blocks if b.heading == block.heading and b.file == block.file]
        suffix = f"-{same.index(block) + 1}" if len(same) > 1 else ""
        named.append(dataclasses.replace(block, id=base + suffix))
    return named


def commands_of(code: str) -> list[str]:
    """Shell commands of a block: ``\\`` continuations joined, here-documents kept whole,
    blank and comment-only lines dropped (bash itself reads the trailing comments)."""
    commands: list[str] = []
    lines = iter(code.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command = line
        while command.endswith("\\"):
            command = command[:-1] + " " + next(lines, "").strip()
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", command)
        if heredoc:
            for body in lines:
                command += "\n" + body
                if body.strip() == heredoc[1]:
                    break
        commands.append(command)
    return commands


ALL_BLOCKS = [block for path in DOCS for block in blocks_of(path)]


# -- the scratch directory of one markdown file -----------------------------------------------


@dataclasses.dataclass
class Scratch:
    cwd: Path
    data_dir: Path
    namespace: dict[str, Any]
    env: dict[str, str]
    log: list[str]


SCRATCHES: dict[Path, Scratch] = {}


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("docs")
    SCRATCHES.clear()


def scratch_for(block: Block, root: Path) -> Scratch:
    if block.file not in SCRATCHES:
        cwd = root / block.file.stem
        cwd.mkdir()
        shutil.copytree(ROOT / "examples", cwd / "examples")
        data_dir, home = cwd / "hashmarket-data", cwd / "home"
        home.mkdir()
        env = {
            "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
            "HOME": str(home),
            "HASHMARKET_DATA_DIR": str(data_dir),
            "COLUMNS": "100",
            "LC_ALL": "C.UTF-8",
        }
        for name, write in FILES.items():
            write(cwd / name)
        SCRATCHES[block.file] = Scratch(cwd, data_dir, {"__name__": "__docs__"}, env, [])
    return SCRATCHES[block.file]


# -- what a reader supplies --------------------------------------------------------------------


def _quotes(path: Path) -> None:
    from hashmarket.index.gpu_quotes import bundled_quotes_path

    shutil.copyfile(bundled_quotes_path(), path)


def _daily_prices(path: Path) -> None:
    path.write_text("date,price_usd\n2026-08-22,61000\n2026-08-23,61500\n", encoding="utf-8")


def _blocks(path: Path) -> None:
    """Blocks from the halving on, ten minutes apart, covering 2024-04-20 with two hours and
    more either side (what a day needs to be aggregated)."""
    start = 1_713_571_767 - 3 * 3600  # three hours before the halving block (00:09 UTC)
    rows = [f"{840_000 + i},{start + 600 * i},17034219" for i in range(6 * 30)]
    path.write_text("height,time,bits\n" + "\n".join(rows) + "\n", encoding="utf-8")


# Files the examples name as the reader's own.
FILES: dict[str, Callable[[Path], None]] = {
    "QUOTES.csv": _quotes,
    "my_prices.csv": _daily_prices,
    "blocks.csv": _blocks,
}


def _first_contract(scratch: Scratch) -> str:
    done = run_shell("hashmarket settle status --format json", scratch)
    return str(json.loads(done.stdout)[0]["contract_id"])


def _first_key(scratch: Scratch) -> str:
    done = run_shell("hashmarket keys list --format json", scratch)
    return str(json.loads(done.stdout)[0]["key_id"])


# Placeholders a reader fills in from an earlier output.
PLACEHOLDERS: dict[str, Callable[[Scratch], str]] = {
    "CONTRACT_ID": _first_contract,
    "KEY_ID": _first_key,
}


# -- checks on what a command did --------------------------------------------------------------

Balances = dict[int, tuple[str, int, int, int]]  # id -> asset, posted, pending out, pending in


def balances(scratch: Scratch, command: str = "") -> Balances:
    """Every account of the ledger a command writes: its ``--db sqlite:///PATH`` (relative
    to the scratch directory), else the data directory's."""
    named = re.search(r"--db sqlite:///(\S+)", command)
    path = scratch.cwd / named[1] if named else scratch.data_dir / "ledger.sqlite"
    if not path.exists():
        return {}
    from hashmarket.ledger import Ledger

    with Ledger.open(f"sqlite:///{path}") as ledger:
        return {
            a.id: (a.asset, a.balance, a.debits_pending, a.credits_pending)
            for a in ledger.accounts()
        }


def paid(before: Balances, after: Balances, asset: str) -> int:
    """What accounts of ``asset`` received in posted balance."""
    return sum(
        max(0, values[1] - before.get(i, (asset, 0, 0, 0))[1])
        for i, values in after.items()
        if values[0] == asset
    )


def moved(before: Balances, after: Balances) -> bool:
    return any(before.get(i) != values for i, values in after.items())


@dataclasses.dataclass(frozen=True)
class Check:
    pattern: str  # a regular expression searched in the command
    what: str
    test: Callable[[Balances, Balances, str], bool]  # before, after, stdout


CHECKS = [
    Check(r"hashmarket ledger transfer ", "the ledger changed", lambda b, a, _: moved(b, a)),
    Check(
        r"hashmarket fund (create-shares|redeem) ",
        "the basket and the shares moved on the ledger",
        lambda b, a, out: out.startswith("ok: order") and moved(b, a),
    ),
    Check(
        r"hashmarket tokens distribute",
        "holders' payout accounts received sats",
        lambda b, a, _: paid(b, a, "BTC") > 0,
    ),
    Check(
        r"hashmarket tokens verify-proof",
        "the proof verified",
        lambda b, a, out: out.startswith("valid: account"),
    ),
    Check(
        r"hashmarket settle run",
        "a settlement amount moved between the parties",
        lambda b, a, _: sum(paid(b, a, x) for x in ("USD", "BTC", "USDT", "USDC")) > 0,
    ),
    Check(
        r"hashmarket delivery verify-heartbeats .*--settle",
        "an SLA refund moved from the seller to the buyer",
        lambda b, a, _: paid(b, a, "USD") > 0,
    ),
    Check(
        r"hashmarket market place HASHPOWER buy ",
        "the order filled and its budget was reserved on the ledger",
        lambda b, a, out: "filled 500 in 1 trade(s)" in out and moved(b, a),
    ),
    Check(
        r"hashmarket market mark HPF-2026-12 --price 4400 --at ",
        "the long's collateral (640 USD) is under its maintenance margin: a call",
        lambda b, a, out: "64,000" in out and "yes" in out,
    ),
    Check(
        r"hashmarket market add-margin HPF-2026-12 --account 22 --amount-cents 16000 ",
        "160 USD went from the long (account 22) to the margin account",
        lambda b, a, _: b[22][1] - a[22][1] == 16_000,
    ),
    Check(
        r"hashmarket market mark HPF-2026-12 --price 4400 --final ",
        "the collateral came back: 800 USD to the long (22), 1,360 to the short (23)",
        lambda b, a, _: (a[22][1] - b[22][1], a[23][1] - b[23][1]) == (80_000, 136_000),
    ),
    Check(
        r"hashmarket market report-delivery 1 1800000 ",
        "the seller (account 21) was paid 1,039 sats",
        lambda b, a, _: a[21][1] - b[21][1] == 1_039,
    ),
    Check(
        r"hashmarket loan-book ",
        "the loan's events were booked on the ledger",
        lambda b, a, _: moved(b, a),
    ),
    Check(
        r"hashmarket cloud pay ",
        "the buyer's BTC account received the day's output",
        lambda b, a, _: paid(b, a, "BTC") > 0,
    ),
    Check(
        r"hashmarket hosting pay ",
        "sats went to the client and the power bill to the site",
        lambda b, a, _: paid(b, a, "BTC") > 0 and paid(b, a, "USD") > 0,
    ),
    Check(
        r"hashmarket lease book ",
        "instalments went to the lessor",
        lambda b, a, _: paid(b, a, "USD") > 0,
    ),
    Check(
        r"hashmarket ledger verify\s*(#|$)",
        "the ledger verified",
        lambda b, a, out: out.startswith("ok: "),
    ),
]

# A command whose comment says it does nothing (a replay, a run repeated) is checked for
# that instead of for what the same command does the first time.
UNCHANGED = Check(r"#.*\bnothing\b", "the ledger unchanged", lambda b, a, _: not moved(b, a))


# -- running -----------------------------------------------------------------------------------


def run_shell(command: str, scratch: Scratch) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=scratch.cwd,
        env=scratch.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_and_check(command: str, scratch: Scratch) -> None:
    """Start the service as the example does (on a free port), wait for the dashboard and
    the API docs to answer, stop it."""
    port = free_port()
    command = re.sub(r"--port\s+\d+", f"--port {port}", command)
    if "--port" not in command:
        command += f" --port {port}"
    command = command.split("#")[0]
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=scratch.cwd,
        env=scratch.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        for page in ("/", "/docs"):
            while True:
                assert process.poll() is None, f"`{command}` exited: {process.stdout.read()}"  # type: ignore[union-attr]
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{page}", timeout=5) as r:
                        assert r.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"`{command}` never served {page}"
                    time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)


# Commands that are not run as one-shot shell commands, and why.
SPECIAL: list[tuple[str, str | Callable[[str, Scratch], None]]] = [
    (
        r"^make run\b",
        "builds .venv and serves until stopped: its two commands are the README's "
        "`hashmarket index hashprice` and `hashmarket serve` examples, run here",
    ),
    (r"^make test\b", "runs the whole test suite, this test included"),
    (r"^hashmarket serve\b", serve_and_check),
]


def run_command(command: str, block: Block, scratch: Scratch) -> None:
    for text, why in block.skipped_lines():
        if text in command:
            scratch.log.append(f"skipped ({why}): {command}")
            return
    for old, new in block.replacements():
        command = command.replace(old, new)
    for name, fill in PLACEHOLDERS.items():
        if re.search(rf"\b{name}\b", command):
            try:
                value = fill(scratch)
            except (IndexError, KeyError, ValueError):
                raise AssertionError(
                    f"{block.id}: `{command}`: the commands before it left no {name}"
                ) from None
            command = re.sub(rf"\b{name}\b", value, command)
    for pattern, action in SPECIAL:
        if re.search(pattern, command):
            if isinstance(action, str):
                scratch.log.append(f"not run ({action}): {command}")
            else:
                action(command, scratch)
            return
    if re.search(UNCHANGED.pattern, command):
        checks = [UNCHANGED]
    else:
        checks = [c for c in CHECKS if re.search(c.pattern, command)]
    before = balances(scratch, command) if checks else {}
    done = run_shell(command, scratch)
    assert done.returncode == 0, (
        f"{block.id} (line {block.line}): `{command}` exited {done.returncode}\n"
        f"stderr: {done.stderr.strip()[-2000:]}\nstdout: {done.stdout.strip()[-1000:]}"
    )
    after = balances(scratch, command) if checks else {}
    for check in checks:
        assert check.test(before, after, done.stdout), (
            f"{block.id}: `{command}` ran but not as described: expected {check.what}\n"
            f"stdout: {done.stdout.strip()[-1000:]}"
        )


def run_python(block: Block, scratch: Scratch, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(scratch.cwd)
    monkeypatch.setenv("HASHMARKET_DATA_DIR", str(scratch.data_dir))
    code = block.code
    for old, new in block.replacements():
        code = code.replace(old, new)
    exec(compile(code, f"{block.file.name}:{block.line}", "exec"), scratch.namespace)


def marks(block: Block) -> list[pytest.MarkDecorator]:
    if block.id in KNOWN_BROKEN:
        return [pytest.mark.xfail(reason=KNOWN_BROKEN[block.id], strict=False)]
    return []


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=marks(b)) for b in ALL_BLOCKS])
def test_block_runs_as_written(
    block: Block, scratch_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if block.skip_reason:
        pytest.skip(block.skip_reason)
    scratch = scratch_for(block, scratch_root)
    if block.lang == "python":
        run_python(block, scratch, monkeypatch)
        return
    for command in commands_of(block.code):
        run_command(command, block, scratch)
    for entry in scratch.log:  # what was not run, and why (shown with -rP)
        print(entry)
    scratch.log.clear()


# -- the runner itself -------------------------------------------------------------------------


def test_every_example_block_is_collected() -> None:
    ids = [b.id for b in ALL_BLOCKS]
    assert len(ids) == len(set(ids))
    readme = [b for b in ALL_BLOCKS if b.file.name == "README.md"]
    assert {b.lang for b in readme} == {"sh", "python"}
    assert sum(1 for b in readme if b.lang == "sh") >= 9
    assert set(KNOWN_BROKEN) <= set(ids), "KNOWN_BROKEN names a block that no longer exists"


def test_commands_join_continuations_and_keep_heredocs() -> None:
    code = (
        "# a comment line\n"
        "hashmarket tokens issue --series HT1 \\\n"
        "    --backing-ths 1000   # trailing comment\n"
        "\n"
        "cat > fwd.json <<'EOF'\n"
        '{"type": "x"}\n'
        "EOF\n"
        "hashmarket settle run --day 2020-07-05\n"
    )
    assert commands_of(code) == [
        "hashmarket tokens issue --series HT1  --backing-ths 1000   # trailing comment",
        'cat > fwd.json <<\'EOF\'\n{"type": "x"}\nEOF',
        "hashmarket settle run --day 2020-07-05",
    ]


def test_directives_are_read_from_the_comments_above_a_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n"
        '<!-- docs-test: skip-line "sync" (needs a node) -->\n'
        '<!-- docs-test: replace "--paths 20000" "--paths 500" -->\n'
        "```sh\nhashmarket data sync\n```\n\n"
        "<!-- docs-test: skip (illustration) -->\n"
        "```python\nundefined_name\n```\n\n"
        "```text\nnot run\n```\n",
        encoding="utf-8",
    )
    first, second = blocks_of(page)
    assert first.skipped_lines() == [("sync", "needs a node")]
    assert first.replacements() == [("--paths 20000", "--paths 500")]
    assert first.skip_reason is None
    assert second.skip_reason == "illustration"
    assert (first.id, second.id) == ("page.md#title-1", "page.md#title-2")
