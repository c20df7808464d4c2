"""The adapter conformance suite: what middle needs of every agent adapter, as tests an
adapter's author runs against their own adapter and their agent's real CLI.

Import the tests into a test module of yours and give them the agent under test:

    # tests/test_conformance.py
    import pytest
    from middle.testing.conformance import *  # noqa: F403  (the tests, collected here)

    @pytest.fixture
    def middle_agent(tmp_path):
        with MyAgentUnderTest(tmp_path) as agent:  # e.g. your CLI pointed at a scripted model
            yield agent

`middle_agent` is a `ConformanceAgent`: it names the adapter, gives the environment middle
and the CLI run in (a private HOME, the CLI pointed at a model the test scripts), scripts
what the model does next, one `Turn` per prompt, and reports the conversations the model
saw. `StandInAgent` below is the smallest one, over middle's bundled stand-in agent; the
built-in adapters' own, over their real CLIs and a scripted model server, are in middle's
`tests/real_agents/conformance_agents.py`.

Each test drives the real `middle` command in a private repository, `MIDDLE_HOME` and tmux
server (`middle_conformance_sandbox`), as a user would:

- the brief is delivered byte for byte, and the adapter confirms it arrived;
- a turn ends: done → ready for review → approved;
- a question parks the run; the answer continues the same conversation;
- a usage limit parks the run rate-limited;
- middle killed mid-turn: `middle resume` adopts the agent, with no second launch;
- a 20 KB brief of 200 lines arrives byte-exact;
- no secret of middle's environment reaches the agent's processes.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from middle.issues.epic_file import render_new_epic

__all__ = [
    "Ask",
    "ConformanceAgent",
    "ConformanceSandbox",
    "Done",
    "Slow",
    "StandInAgent",
    "Turn",
    "UsageLimit",
    "middle_conformance_sandbox",
    "test_conformance_a_20_kb_brief_arrives_byte_exact",
    "test_conformance_a_question_parks_and_the_answer_continues_the_conversation",
    "test_conformance_a_turn_ends_ready_for_review_and_is_approved",
    "test_conformance_a_usage_limit_parks_the_run_rate_limited",
    "test_conformance_middle_killed_mid_turn_is_adopted_by_resume",
    "test_conformance_no_secret_of_middles_reaches_the_agent",
    "test_conformance_the_brief_is_delivered_and_confirmed",
]

REF = "retry-webhooks"
CONTEXT = "Deliveries to customer endpoints fail now and then, and are lost."
IDENTITY = ["-c", "user.name=conformance", "-c", "user.email=conformance@middle.invalid"]
SECRETS = {
    "GH_TOKEN": "ghp-conformance-secret-0123",
    "AWS_SECRET_ACCESS_KEY": "aws-conformance-secret-0123",
    "MIDDLE_CONFORMANCE_SECRET": "middle-conformance-secret-0123",
}


@dataclass(frozen=True)
class Done:
    """The model commits a change (a line of `note` in a file) and writes `done.json`."""

    note: str = "work"


@dataclass(frozen=True)
class Ask:
    """The model writes `blocked.json` with `question` and ends its turn."""

    question: str


@dataclass(frozen=True)
class UsageLimit:
    """The model's API refuses the turn: the CLI's own usage limit, resetting at `reset`
    (seconds since the epoch)."""

    reset: int


@dataclass(frozen=True)
class Slow:
    """A done turn that first runs for `seconds` (a shell `sleep`, say), so a test can act
    while the turn is under way."""

    seconds: float
    note: str = "slow work"


Turn = Done | Ask | UsageLimit | Slow


class ConformanceAgent(Protocol):
    """What the suite needs from the author of an adapter."""

    adapter: str  # the adapter's name, as registered

    def environment(self, sandbox: ConformanceSandbox) -> dict[str, str]:
        """Variables for `middle` and the CLI (HOME, the model's URL and key, ...), once
        the sandbox's repository exists (a CLI may need to trust it)."""
        ...

    def policy(self) -> str:
        """TOML added to the repo's `.middle/policy.toml` (the adapter's settings), or ""."""
        ...

    def script(self, *turns: Turn) -> None:
        """What the model does: one turn per prompt it gets, in order."""
        ...

    def conversations(self) -> list[list[str]]:
        """The prompts the model received, grouped by conversation, oldest first."""
        ...


class ConformanceSandbox:
    """A repository holding one Epic, a private MIDDLE_HOME and a private tmux server, and
    the real `middle` command run in them with the agent's environment."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.home = root / "middle-home"
        self.socket = str(Path(tempfile.mkdtemp(prefix="mc-", dir="/tmp")) / "tmux.sock")
        self.env: dict[str, str] = {}
        (self.repo / "planning" / "epics").mkdir(parents=True)
        (self.repo / ".middle").mkdir()
        self.epic.write_text(
            render_new_epic(
                title="Retry failed webhooks",
                slug=REF,
                context=CONTEXT,
                criteria=["Failed deliveries retry with exponential backoff"],
                sub_issues=[("1", "Retry queue", "Persist failed deliveries and retry them.")],
            )
        )
        self.policy.write_text(
            "[limits]\nlaunch_timeout_seconds = 120\nturn_timeout_seconds = 300\n"
        )
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "an Epic")

    @property
    def epic(self) -> Path:
        return self.repo / "planning" / "epics" / f"{REF}.md"

    @property
    def policy(self) -> Path:
        return self.repo / ".middle" / "policy.toml"

    def use(self, agent: ConformanceAgent) -> None:
        """Make `agent` the repo's adapter, with its settings and environment."""
        self.policy.write_text(
            f'{self.policy.read_text()}\n[repo]\ndefault_adapter = "{agent.adapter}"\n'
            f"{agent.policy()}\n"
        )
        self.git("commit", "-qam", f"use {agent.adapter}")
        self.env = {
            **agent.environment(self),
            "MIDDLE_HOME": str(self.home),
            "MIDDLE_TMUX_SOCKET": self.socket,
        }

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *IDENTITY, *args], cwd=self.repo, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def middle_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "middle", *args]

    def middle(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.middle_argv(*args),
            cwd=self.repo,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.middle_argv(*args),
            cwd=self.repo,
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Rows of middle's database; none while middle has not made it yet."""
        import sqlite3

        if not (self.home / "db.sqlite3").exists():
            return []
        with sqlite3.connect(self.home / "db.sqlite3") as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in db.execute(sql, params)]
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # middle is creating its schema
                    return []
                raise

    def workflow(self) -> dict[str, Any]:
        (row,) = self.query("SELECT * FROM workflows WHERE kind = 'implementation'")
        return row

    def events(self, kind: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT payload_json FROM events WHERE type = ? ORDER BY id", kind)
        return [json.loads(row["payload_json"]) for row in rows]

    def brief(self) -> str:
        return (Path(self.workflow()["worktree_path"]) / ".middle" / "prompt.md").read_text()

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)
        shutil.rmtree(Path(self.socket).parent, ignore_errors=True)


@pytest.fixture
def middle_conformance_sandbox(
    tmp_path: Path, middle_agent: ConformanceAgent
) -> Iterator[ConformanceSandbox]:
    """The sandbox, set up for the author's `middle_agent` fixture."""
    sandbox = ConformanceSandbox(tmp_path / "conformance")
    try:
        sandbox.use(middle_agent)
        yield sandbox
    finally:
        sandbox.close()


def _wait(predicate: Callable[[], object], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


# -- the tests ---------------------------------------------------------------------------


def test_conformance_the_brief_is_delivered_and_confirmed(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    middle_agent.script(Done("first"))
    result = sandbox.middle("implement", "--issue", REF)
    assert result.returncode == 0, result.stderr
    ((first, *_), *_) = middle_agent.conversations()
    assert first == sandbox.brief().rstrip()
    (accepted,) = sandbox.events("agent.prompt-accepted")  # the adapter confirmed it
    assert accepted["exact"] is True


def test_conformance_a_turn_ends_ready_for_review_and_is_approved(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    middle_agent.script(Done("the work"))
    result = sandbox.middle("implement", "--issue", REF)
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    approved = sandbox.middle("review", "--issue", REF, "--approve")
    assert approved.returncode == 0, approved.stderr
    assert sandbox.workflow()["state"] == "completed"
    assert "the work" in sandbox.git("log", "--format=%s", f"middle/issue-{REF}")
    assert len(sandbox.events("agent.launched")) == 1


def test_conformance_a_question_parks_and_the_answer_continues_the_conversation(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    middle_agent.script(Ask("Which backoff base, 2 or 3?"), Done("answered"))
    asked = sandbox.middle("implement", "--issue", REF)
    assert asked.returncode == 0, asked.stderr
    assert "Which backoff base, 2 or 3?" in asked.stdout
    assert sandbox.workflow()["state"] == "waiting-human"
    answered = sandbox.middle("answer", "--issue", REF, "--text", "Base 3, capped at 5 minutes.")
    assert answered.returncode == 0, answered.stderr
    assert "ready for review" in answered.stdout
    (conversation,) = middle_agent.conversations()  # one: the answer continued it
    assert len(conversation) >= 2 and "Base 3, capped at 5 minutes." in conversation[-1]


def test_conformance_a_usage_limit_parks_the_run_rate_limited(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    middle_agent.script(UsageLimit(int(time.time()) + 3 * 3600))
    result = sandbox.middle("implement", "--issue", REF)
    assert result.returncode == 0, result.stderr
    assert sandbox.workflow()["state"] == "rate-limited"
    adapter = sandbox.workflow()["adapter"]
    (limit,) = sandbox.query("SELECT * FROM rate_limit_state WHERE adapter = ?", adapter)
    assert limit["status"] == "limited"


def test_conformance_middle_killed_mid_turn_is_adopted_by_resume(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    middle_agent.script(Slow(4, "after the crash"))
    dispatcher = sandbox.popen("implement", "--issue", REF)
    _wait(lambda: sandbox.events("agent.prompt-accepted"))
    dispatcher.send_signal(signal.SIGKILL)
    dispatcher.wait()
    resumed = sandbox.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.events("agent.launched")) == 1
    assert len(sandbox.events("agent.adopted")) == 1


def test_conformance_a_20_kb_brief_arrives_byte_exact(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    sandbox = middle_conformance_sandbox
    lines = [
        f"Line {n:03}: deliveries {'retry ' * 12}with `backoff` & <care> é." for n in range(200)
    ]
    sandbox.epic.write_text(sandbox.epic.read_text().replace(CONTEXT, "\n".join(lines)))
    sandbox.git("commit", "-qam", "a long brief")
    middle_agent.script(Done())
    result = sandbox.middle("implement", "--issue", REF)
    assert result.returncode == 0, result.stderr
    brief = sandbox.brief().rstrip()
    assert len(brief.encode()) > 20_000 and brief.count("\n") > 200
    assert middle_agent.conversations()[0][0] == brief
    (accepted,) = sandbox.events("agent.prompt-accepted")
    assert accepted["exact"] is True


def test_conformance_no_secret_of_middles_reaches_the_agent(
    middle_agent: ConformanceAgent, middle_conformance_sandbox: ConformanceSandbox
) -> None:
    """Read while the agent works: the environment of every process in its tmux pane. A
    variable the adapter declares its CLI needs (`env_allow`) reaches it on purpose: Copilot's
    login is `GH_TOKEN`. Seen red: for Copilot, before the suite asked the adapter."""
    sandbox = middle_conformance_sandbox
    needed = _declared_needs(sandbox, middle_agent.adapter)
    secrets = {name: value for name, value in SECRETS.items() if not _matches(name, needed)}
    sandbox.env.update(SECRETS)  # in middle's own environment
    middle_agent.script(Slow(4, "while being read"))
    dispatcher = sandbox.popen("implement", "--issue", REF)
    _wait(lambda: sandbox.events("agent.prompt-accepted"))
    session = sandbox.workflow()["session_name"]
    pane = subprocess.run(
        ["tmux", "-S", sandbox.socket, "display", "-p", "-t", f"={session}:", "#{pane_pid}"],
        capture_output=True,
        text=True,
        check=True,
    )
    environs = [_environ(pid) for pid in _process_tree(int(pane.stdout))]
    assert dispatcher.wait(timeout=600) == 0
    assert any("HOME" in env for env in environs)  # the agent's processes were read
    leaked = [name for env in environs for name, value in secrets.items() if env.get(name) == value]
    assert leaked == []


def _declared_needs(sandbox: ConformanceSandbox, adapter: str) -> tuple[str, ...]:
    """The `env_allow` of the adapter called `adapter`, as middle loads it for the repo
    (built-in, installed, or the repo's own plugin)."""
    from middle.agents import BUILTIN_ADAPTERS
    from middle.engine import load_plugins

    builtin = {cls.name: cls for cls in BUILTIN_ADAPTERS}
    found = builtin.get(adapter) or load_plugins(sandbox.repo).registry.adapters[adapter]
    return found.env_allow


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _process_tree(root: int) -> list[int]:
    """`root` and every process below it, from /proc's children lists."""
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


# -- the stand-in, as the smallest agent under test -----------------------------------


class StandInAgent:
    """middle's bundled stand-in agent (`middle.agents.standin`) behind the `command`
    adapter: fast, and proof of nothing about a real CLI."""

    adapter = "command"

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.script_path, self.log = root / "standin-script.json", root / "standin-log.jsonl"
        self.script()

    def environment(self, sandbox: ConformanceSandbox) -> dict[str, str]:
        return {}

    def policy(self) -> str:
        argv = [sys.executable, "-m", "middle.agents.standin", "--script", str(self.script_path)]
        argv += ["--log", str(self.log)]  # it reports each prompt with UserPromptSubmit:
        return (
            f"[adapters.command]\nargv = {json.dumps(argv)}\nconfirms_prompts = true\n"
            'resume_argv = ["--resume", "{session_id}"]\n'
        )

    def script(self, *turns: Turn) -> None:
        self.script_path.write_text(json.dumps([_standin_action(turn) for turn in turns]))

    def conversations(self) -> list[list[str]]:
        """Per session, what the stand-in took in each turn: the brief it read when the
        prompt pointed at `.middle/prompt.md` (the command adapter types a pointer line,
        and a model reads the file), else the prompt itself."""
        if not self.log.exists():
            return []
        by_session: dict[str, list[str]] = {}
        for line in self.log.read_text().splitlines():
            entry = json.loads(line)
            if entry["event"] == "turn":
                pointer = ".middle/prompt.md" in entry["prompt"]
                taken = entry["brief"].rstrip() if pointer else entry["prompt"]
                by_session.setdefault(entry["session_id"], []).append(taken)
        return list(by_session.values())


def _standin_action(turn: Turn) -> dict[str, Any]:
    if isinstance(turn, Ask):
        return {"do": "ask", "question": turn.question}
    if isinstance(turn, UsageLimit):
        return {"do": "rate-limit", "reset_in": max(60, turn.reset - int(time.time()))}
    if isinstance(turn, Slow):
        return {"do": "done", "delay": turn.seconds, "note": turn.note}
    return {"do": "done", "note": turn.note}
