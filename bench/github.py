"""GitHub mode (issue 24 items 1 and 5), against the fake `gh` of tests/fakes/gh_fake.py:

- answer → agent's new turn under `serve`: a person replies to the agent's question in a
  comment; how long until the agent starts its next turn (median and p95), at the
  default `[github] poll_seconds`; and the gh calls that cost quota per hour while a run
  waits (a pass that finds nothing is two 304s) and per answer;
- the recommender's draft of a repository with 1,000 open issues and 200 Epics: the time
  of `open_issues` and the draft, split into gh's (the fake's process, GitHub's network
  in life) and middle's own, cold (every page read) and warm (every page a 304).
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import BenchSandbox, git, sandbox, summary
from middle.config import DEFAULTS
from tests.fakes.github_repos import large_repo

FAKE_GH = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "gh_fake.py"
EPIC = "108"


@contextmanager
def github_mode(box: BenchSandbox, issues: dict[str, Any] | None = None) -> Iterator[Path]:
    """The sandbox repo in GitHub mode on a fake github.com/acme/webhooks; yields the
    fake's state file."""
    bin_dir = box.root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gh"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_GH}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    state = box.root / "github.json"
    body = "Deliveries fail.\n\n- [ ] Failed deliveries retry with backoff\n"
    epic = {"title": "Retry failed webhooks", "body": body, "labels": ["approved"]}
    state.write_text(
        json.dumps(
            {
                "login": "middle-bot", "repo": "acme/webhooks",
                "issues": issues if issues is not None else {EPIC: epic},
                "prs": [], "permissions": {"dana": "maintain"},
            }
        )
    )  # fmt: skip
    policy = box.repo / ".middle" / "policy.toml"
    policy.write_text(
        policy.read_text() + '\n[epic_store]\nmode = "github"\n\n'
        '[adapters.command]\nenv_pass = ["FAKE_GH_STATE"]\n'
    )
    git(box.repo, "remote", "add", "origin", "https://github.com/acme/webhooks.git")
    git(box.repo, "commit", "-q", "-am", "github mode")
    saved = {key: os.environ.get(key) for key in ("PATH", "FAKE_GH_STATE", "GITHUB_ACTIONS")}
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    os.environ["FAKE_GH_STATE"] = str(state)
    os.environ.pop("GITHUB_ACTIONS", None)
    try:
        yield state
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def locked(path: Path) -> Iterator[dict[str, Any]]:
    """The fake's state under the lock every fake `gh` call takes."""
    with path.open("r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        state = json.load(file)
        yield state
        file.seek(0)
        file.truncate()
        json.dump(state, file)


def paid(state: dict[str, Any]) -> int:
    quota = state.get("quota", {})
    return int(quota.get("rest", 0) + quota.get("graphql", 0))


def wait_for(predicate: Any, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark waited too long")
        time.sleep(0.02)


def answer_latency(quick: bool) -> dict[str, Any]:
    rounds, idle_seconds = (2, 3.0) if quick else (12, 120.0)
    poll_seconds = float(DEFAULTS["github"]["poll_seconds"])
    with sandbox() as box, github_mode(box) as state:
        # one question more than there are answers: the run ends parked
        box.script([{"do": "ask", "question": f"Question {n}?"} for n in range(rounds + 1)])
        implement = [sys.executable, "-m", "middle", "implement", "--issue", EPIC]
        subprocess.run([*implement, "--agent", "command"], cwd=box.repo, check=True,
                       capture_output=True)  # fmt: skip
        service = subprocess.Popen(
            [sys.executable, "-m", "middle", "serve", "--watchdog-seconds", "600"],
            cwd=box.repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(poll_seconds * 2)  # serve's first pass looks at the run once
            with locked(state) as s:
                idle_from, idle_began = paid(s), time.monotonic()
            time.sleep(idle_seconds)
            with locked(state) as s:
                idle_paid, idle_took = paid(s) - idle_from, time.monotonic() - idle_began
            latencies, answer_paid = [], []
            for n in range(rounds):
                turns = len([e for e in box.agent_log() if e["event"] == "turn"])
                with locked(state) as s:
                    before = paid(s)
                    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    s["comments"][EPIC].append(
                        {"id": 5000 + n, "login": "dana", "body": f"Answer {n}.",
                         "created_at": stamp}
                    )  # fmt: skip
                    replied = time.time()
                wait_for(
                    lambda t=turns: len([e for e in box.agent_log() if e["event"] == "turn"]) > t
                )
                turn = [e for e in box.agent_log() if e["event"] == "turn"][turns]
                latencies.append(turn["ts"] - replied)
                wait_for(lambda: _parked(box))  # the agent asked again: the run waits
                with locked(state) as s:
                    answer_paid.append(paid(s) - before)
        finally:
            service.terminate()
            service.wait(timeout=60)
    return {
        "poll_seconds": poll_seconds,
        "answer_to_new_turn_s": {**summary(latencies), "p95": _p95(latencies)},
        "idle_paid_calls_per_hour": round(idle_paid * 3600 / idle_took, 1),
        "paid_calls_per_answer": summary([float(n) for n in answer_paid]),
        # before issue 24: 3 paid calls per parked run and pass (its comments, its PR,
        # the viewer) at serve's 60 s
        "before_paid_calls_per_hour_per_parked_run": 3 * 60,
        "targets": {"answer_to_new_turn_s_p95": 2 * poll_seconds, "idle_paid_per_hour": 0},
    }


def _parked(box: BenchSandbox) -> bool:
    from middle.store import open_db

    rows = list(open_db(box.home / "db.sqlite3")["workflows"].rows)
    return bool(rows) and rows[0]["state"] == "waiting-human"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)


def recommender_draft(quick: bool) -> dict[str, Any]:
    """`open_issues` and the draft at 1,000 open issues, in this process, with the time
    spent waiting on gh taken out."""
    from middle.issues.github_store import GitHubIssueStore
    from middle.state_issue import render
    from middle.state_issue.draft import draft_plan
    from middle.system.github import Gh

    waited = [0.0]
    call = Gh._call

    def timed(self: Gh, args: Any, input: str | None = None) -> Any:
        began = time.perf_counter()
        try:
            return call(self, args, input)
        finally:
            waited[0] += time.perf_counter() - began

    with sandbox() as box, github_mode(box, large_repo()) as state:
        Gh._call = timed  # type: ignore[method-assign]
        try:
            runs = []
            for _ in range(2 if quick else 3):  # the first cold, the rest warm (304s)
                waited[0] = 0.0
                with locked(state) as s:
                    before = paid(s)
                began = time.perf_counter()
                store = GitHubIssueStore(box.repo, {})
                epics = store.open_issues("claude")
                plan = draft_plan(epics, [], generated="x", run_id="0", interval="off")
                render(plan)
                took = time.perf_counter() - began
                with locked(state) as s:
                    spent = paid(s) - before
                runs.append(
                    {
                        "total_s": round(took, 3), "gh_s": round(waited[0], 3),
                        "middle_own_s": round(took - waited[0], 3), "paid_calls": spent,
                        "epics_ranked": len(plan.ready) + len(plan.blocked),
                    }
                )  # fmt: skip
        finally:
            Gh._call = call  # type: ignore[method-assign]
    return {"open_issues": 1000, "epics": 200, "cold": runs[0], "warm": runs[1:],
            "target_middle_own_s": 5.0}  # fmt: skip


def run(quick: bool = False) -> dict[str, Any]:
    return {
        "benchmark": "github-mode",
        "answer": answer_latency(quick),
        "recommender_1000_issues": recommender_draft(quick),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
