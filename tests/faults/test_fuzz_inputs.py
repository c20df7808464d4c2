"""Malformed config, policy and Epic files, environment values and flags, through the real
`middle` CLI (issue 20 items 12, 15 and 16).

Each input is refused in one line, never a traceback, and leaves nothing behind: no run
in the database, no worktree, no tmux session, not a byte changed in the repository or
the config. `status` is a report: it names what is broken in one line and goes on
(exit 0), as it did for a broken repo config since issue 11; `doctor` marks the check
failed and exits 1 with one line on stderr; `implement` refuses with one line.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import REF, Sandbox

EPIC = f"planning/epics/{REF}.md"


def write(relative: str, data: bytes) -> Callable[[Sandbox], None]:
    """Write `data` to a path of the sandbox: `home/...` in the home, else in the repo."""

    def setup(sandbox: Sandbox) -> None:
        base = sandbox.home if relative.startswith("home/") else sandbox.repo
        path = base / relative.removeprefix("home/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return setup


def append_to_epic(data: bytes) -> Callable[[Sandbox], None]:
    def setup(sandbox: Sandbox) -> None:
        with (sandbox.repo / EPIC).open("ab") as epic:
            epic.write(data)

    return setup


def environment(name: str, value: str) -> Callable[[Sandbox], None]:
    def setup(sandbox: Sandbox) -> None:
        os.environ[name] = value  # the sandbox's monkeypatch restores both variables

    return setup


def home_is_a_file(sandbox: Sandbox) -> None:
    sandbox.home.parent.mkdir(parents=True, exist_ok=True)
    sandbox.home.write_text("not a directory\n")


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Sandbox], None]
    needle: str  # what the one line must say
    status: str = "reports"  # "reports" (exit 0, one stdout line) or "refuses"
    issue: str = REF  # what `implement` is asked for


CASES = [
    Case(
        "config not UTF-8",
        write("home/config.toml", b"[global]\nmax_concurrent = 2 # \xff\n"),
        "config.toml is not UTF-8 text: byte 0xff at offset 30 cannot be decoded",
    ),
    Case(
        "policy not UTF-8",
        write(".middle/policy.toml", b"[limits]\nmax_concurrent = 2 # caf\xe9\n"),
        "policy.toml is not UTF-8 text: byte 0xe9 at offset 33 cannot be decoded",
    ),
    Case("policy not TOML", write(".middle/policy.toml", b"[limits\n"), "is not valid TOML"),
    Case(
        "[limit]",
        write(".middle/policy.toml", b"[limit]\nmax_concurrent = 2\n"),
        "[limit] is not a table middle knows",
    ),
    Case(
        "[epic-store]",
        write("home/config.toml", b'[epic-store]\nmode = "file"\n'),
        "(did you mean [epic_store]?)",
    ),
    Case(
        "intervall",
        write(".middle/policy.toml", b'[recommender]\nintervall = "5m"\n'),
        "[recommender] intervall = '5m': expected one of the keys",
    ),
    Case(
        "interval = 5",
        write(".middle/policy.toml", b"[recommender]\ninterval = 5\n"),
        "[recommender] interval = 5: expected a duration",
    ),
    Case(
        "max_attempts",
        write(".middle/policy.toml", b'[recommender]\nmax_attempts = "x"\n'),
        "[recommender] max_attempts = 'x': expected a positive integer",
    ),
    Case(
        "recommender = 3",
        write(".middle/policy.toml", b"recommender = 3\n"),
        "recommender = 3: expected a [recommender] table",
    ),
    Case("adapters = x", write("home/config.toml", b'adapters = "x"\n'), "adapters = 'x'"),
    Case("global = 3", write("home/config.toml", b"global = 3\n"), "global = 3: expected a"),
    Case(
        "epics_dir outside",
        write(".middle/policy.toml", b'[epic_store]\nepics_dir = "/etc"\n'),
        "epics_dir = '/etc': expected a folder inside the repository",
    ),
    Case(
        "agent command",
        environment("MIDDLE_AGENT_COMMAND", "python3 'agent.py"),
        'MIDDLE_AGENT_COMMAND = "python3 \'agent.py" cannot be split into words',
    ),
    Case(
        "home is a file",
        home_is_a_file,
        "cannot be middle's home (it is not a directory)",
        status="refuses",
    ),
    Case(
        "Epic not UTF-8",
        append_to_epic(b"\n\xfe\n"),
        f"{REF}.md is not UTF-8 text: byte 0xfe at offset",
    ),
    Case(
        "Epic a directory",
        lambda sandbox: (sandbox.repo / "planning" / "epics" / "x.md").mkdir(),
        "x.md is a directory, not an Epic file",
        issue="x",
    ),
]


def snapshot(sandbox: Sandbox) -> dict[str, bytes | None]:
    """Every file of the repository (not .git) and the home's config, byte for byte."""
    files: dict[str, bytes | None] = {}
    for path in sorted(sandbox.repo.rglob("*")):
        if ".git" not in path.relative_to(sandbox.repo).parts:
            files[str(path)] = path.read_bytes() if path.is_file() else None
    config = sandbox.home / "config.toml"
    files[str(config)] = config.read_bytes() if config.is_file() else None
    return files


def assert_nothing_written(sandbox: Sandbox, before: dict[str, bytes | None]) -> None:
    assert snapshot(sandbox) == before
    database = sandbox.home / "db.sqlite3"
    if database.is_file():
        with sqlite3.connect(database) as conn:
            for table in ("workflows", "steps", "events"):
                (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                assert count == 0, table
    worktrees = sandbox.home / "worktrees"
    assert not worktrees.is_dir() or list(worktrees.rglob("*")) == []
    assert sandbox.sessions() == []


def assert_no_traceback(output: str) -> None:
    assert "Traceback" not in output, output


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("command", ["status", "doctor", "implement"])
def test_a_malformed_input_is_one_line_and_leaves_nothing_behind(
    sandbox: Sandbox, case: Case, command: str
) -> None:
    """Seen red: a traceback for every case but "policy not TOML" (UnicodeDecodeError,
    AttributeError, ValueError from shlex, FileExistsError, IsADirectoryError, ValueError
    from relative_to), and for the schema cases status and doctor said nothing (doctor ✓)
    while implement went on to the adapter."""
    sandbox.script({"do": "done"})  # a working agent: only the malformed input can refuse
    case.setup(sandbox)
    before = snapshot(sandbox)
    argv = {
        "status": ["status"],
        "doctor": ["doctor"],
        "implement": ["implement", "--issue", case.issue, "--agent", "command"],
    }[command]
    result = sandbox.middle(*argv)
    assert_no_traceback(result.stdout + result.stderr)
    if command == "status" and case.status == "reports":
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        said = [line for line in result.stdout.splitlines() if case.needle in line]
        assert len(said) == 1, result.stdout
    elif command == "doctor" and case.status == "reports":
        assert result.returncode == 1
        assert one_line(result.stderr).startswith("middle doctor: 1 check(s) failed: ")
        assert case.needle in result.stdout
        assert "Traceback" not in result.stdout
    else:
        assert result.returncode == 1
        line = one_line(result.stderr)
        assert line.startswith("middle: ") and case.needle in line, line
    assert_nothing_written(sandbox, before)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["dashboard", "--port", "99999"], "--port '99999': expected a port number, 0 to 65535"),
        (["dashboard", "--port", "-1"], "--port '-1': expected a port number, 0 to 65535"),
        (["dashboard", "--port", "abc"], "--port 'abc': expected a port number, 0 to 65535"),
        (["serve", "--dashboard", "--port", "99999"], "--port '99999': expected a port number"),
        (["bench", "--workflows", "-1"], "--workflows '-1': expected a whole number, 1 or more"),
        (["bench", "--workflows", "0"], "--workflows '0': expected a whole number, 1 or more"),
        (["bench", "--workflows", "abc"], "--workflows 'abc': expected a whole number"),
    ],
    ids=" ".join,
)
def test_a_flag_out_of_range_is_one_line(sandbox: Sandbox, argv: list[str], needle: str) -> None:
    """Seen red: OverflowError from bind() (99999, -1), ValueError from int() (abc),
    StatisticsError from bench; and `serve --dashboard --port 99999` kept serving with
    its dashboard dead."""
    before = snapshot(sandbox)
    result = sandbox.middle(*argv)
    assert_no_traceback(result.stdout + result.stderr)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("middle: ") and needle in line, line
    assert_nothing_written(sandbox, before)


def test_implement_says_it_noted_the_parse_error_in_the_epic(sandbox: Sandbox) -> None:
    """Issue 20 item 16. Seen red: the refusal named the parse error but not that middle
    had appended a parse-error block to the person's file."""
    sandbox.script({"do": "done"})
    epic = sandbox.repo / EPIC
    broken = epic.read_text().replace("<!-- /middle:sub-issue -->\n", "", 1)
    epic.write_text(broken)
    result = sandbox.middle("implement", "--issue", REF, "--agent", "command")
    assert result.returncode == 1
    line = one_line(result.stderr)
    last = len(broken.splitlines())
    assert line.endswith(f"; middle appended a parse-error block saying so after line {last}")
    assert epic.read_text().startswith(broken)  # only the block was added
    assert epic.read_text().count("<!-- middle:parse-error ") == 1
    assert_nothing_written(sandbox, snapshot(sandbox))


def test_status_names_an_unreadable_epic_and_reads_the_others(sandbox: Sandbox) -> None:
    """Issue 20 item 16. Seen red: one Epic that was a directory made `status` fail with a
    traceback for every run; now it names that Epic and shows the blockers of the rest."""
    epics = sandbox.repo / "planning" / "epics"
    (epics / "x.md").mkdir()
    epic = epics / f"{REF}.md"
    epic.write_text(
        epic.read_text().replace("approved: true\n", "approved: true\nblocked-by: [q]\n")
    )
    result = sandbox.middle("status")
    assert result.returncode == 0, result.stderr
    assert f"cannot read an Epic: {epics / 'x.md'} is a directory" in result.stdout
    assert f"Epic {REF} is blocked by q" in result.stdout
