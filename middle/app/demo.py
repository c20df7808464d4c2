"""`demo`: the whole loop on a sample repository, with the bundled stand-in agent.

It makes a small git repository with one Epic and drives it the way a person would:
dispatch, the agent asks a question, answer, the agent finishes, ask for a change, the
agent finishes again, approve. Runs are recorded in your MIDDLE_HOME, so `middle status`
shows them afterwards. The repository stays for you to look at, under
`$MIDDLE_HOME/demos/` rather than in /tmp, and the next demo removes the previous ones.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from middle.app.implement import answer, implement, review
from middle.app.runtime import Outcome
from middle.config import middle_home
from middle.issues.epic_file import render_new_epic
from middle.steps.services import Progress
from middle.system import git

REF = "retry-webhooks"
QUESTION = "Should 4xx responses be retried too, or only 5xx and timeouts?"
ANSWER = "Only 5xx and timeouts: a 4xx will not get better by retrying."
CHANGES = "Cap the backoff at 5 minutes, please."


@dataclass(frozen=True)
class DemoPaths:
    root: Path
    repo: Path
    agent_log: Path


def sample_epic() -> str:
    """The demo's Epic, also the e2e tests' sample."""
    return render_new_epic(
        title="Retry failed webhooks",
        slug=REF,
        context="Deliveries to customer endpoints fail now and then, and are lost.",
        criteria=["Failed deliveries retry with exponential backoff"],
        sub_issues=[("1", "Retry queue", "Persist failed deliveries and retry them.")],
    )


def make_sample_repo(root: Path) -> DemoPaths:
    repo = root / "webhooks-service"
    (repo / "planning" / "epics").mkdir(parents=True)
    (repo / ".middle").mkdir()
    (repo / "README.md").write_text("# webhooks-service\n\nDelivers webhooks.\n")
    (repo / "planning" / "epics" / f"{REF}.md").write_text(sample_epic())
    script, log = root / "agent-script.json", root / "agent-log.jsonl"
    script.write_text(json.dumps([{"do": "ask", "question": QUESTION}, {"do": "done"}]))
    argv = [sys.executable, "-m", "middle.agents.standin", "--script", str(script)]
    argv += ["--log", str(log)]
    (repo / ".middle" / "policy.toml").write_text(
        '[repo]\ndefault_adapter = "command"\n\n'
        f"[adapters.command]\nargv = {json.dumps(argv)}\n\n"
        "[limits]\nlaunch_timeout_seconds = 30\nturn_timeout_seconds = 120\n"
    )
    identity = ["-c", "user.name=middle demo", "-c", "user.email=demo@middle.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        git.git(*identity, *args, cwd=repo)
    return DemoPaths(root, repo, log)


@contextmanager
def _hermetic_agent() -> Iterator[None]:
    """The demo drives the stand-in even if MIDDLE_AGENT_COMMAND names a real agent."""
    saved = os.environ.pop("MIDDLE_AGENT_COMMAND", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["MIDDLE_AGENT_COMMAND"] = saved


def _middle_command() -> str:
    """How to run middle from this shell: the venv's script when it is not on PATH."""
    script = Path(sys.executable).parent / "middle"
    if script.exists() and shutil.which("middle") != str(script):
        return str(script)
    return "middle"


def _fresh_demo_folder(demos: Path) -> Path:
    """A new folder for this demo's repository; the earlier demos' folders are removed."""
    demos.mkdir(parents=True, exist_ok=True)
    for old in demos.glob("middle-demo-*"):
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="middle-demo-", dir=demos))


def run_demo(say: Callable[[str], None], progress: Progress | None = None) -> DemoPaths:
    paths = make_sample_repo(_fresh_demo_folder(middle_home() / "demos"))
    say(f"Sample repository: {paths.repo} (Epic planning/epics/{REF}.md)")
    repo = paths.repo
    stages: list[tuple[str, Callable[[], Outcome]]] = [
        (f"implement --issue {REF}", lambda: implement(repo, REF, "command", progress)),
        (f'answer --issue {REF} --text "{ANSWER}"', lambda: answer(repo, REF, ANSWER, progress)),
        (
            f'review --issue {REF} --request-changes "{CHANGES}"',
            lambda: review(repo, REF, approve=False, request_changes=CHANGES, progress=progress),
        ),
        (
            f"review --issue {REF} --approve",
            lambda: review(repo, REF, approve=True, request_changes=None, progress=progress),
        ),
    ]
    with _hermetic_agent():
        for command, stage in stages:
            say(f"\n$ middle {command}")
            outcome = stage()
            say(f"→ {outcome.state}: {outcome.message}")
            if not outcome.ok:
                break
    say(
        "\nWhere to look:\n"
        f"  the branch:        git -C {paths.repo} log --oneline middle/issue-{REF}\n"
        f"  the conversation:  {paths.repo}/planning/epics/{REF}.md\n"
        f"  what the agent did: {paths.agent_log}\n"
        f"  every run:         {_middle_command()} status"
    )
    return paths
