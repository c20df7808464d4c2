"""The real agent CLIs (Claude Code, Codex, Copilot, Gemini, and the ACP agents) through
middle: `implement` to the prompt accepted, and the agent's turn end to the run parked, with
middle's own share of each beside the CLI's. Runs against the scripted model server on
127.0.0.1 (tests/fakes), in a private HOME; needs the CLIs from `.ci/install-agent-clis`
and reports them missing otherwise.

python -m bench.real_agents [--quick]
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import git, sandbox, summary
from bench.real_agents_acp import ACP_AGENTS, Configure
from middle.store import open_db
from tests.fakes.model_server import ModelServer
from tests.real_agents.copilot_env import copilot_env
from tests.real_agents.gemini_env import gemini_env
from tests.real_agents.harness import agent_bin_dir, claude_env, codex_env

ASK = {
    "run": [f"printf '%s' {shlex.quote(json.dumps({'question': 'Which?'}))} > .middle/blocked.json"]
}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class StopWatcher(threading.Thread):
    """Notes when a Stop hook (Codex's notify, Copilot's agentStop, Gemini's AfterAgent)
    lands in a worktree's spool: the moment the CLI said the turn ended. Polls every 2 ms,
    so it is that precise."""

    def __init__(self, worktrees: Path) -> None:
        super().__init__(daemon=True)
        self.worktrees, self.seen, self.done = worktrees, {}, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for path in self.worktrees.glob("*/*/.middle/spool/*.hook"):
                if path not in self.seen:
                    try:
                        head = path.read_text().partition("\n")[0]
                    except OSError:
                        continue
                    if head == "Stop":
                        self.seen[path] = time.time()
            time.sleep(0.002)


def cli_env(cli: str, root: Path, url: str, repo: Path, bin_dir: Path) -> dict[str, str]:
    """The private environment of `cli` at the server (the repo trusted where that is the
    user's own setup)."""
    if cli == "copilot":
        return copilot_env(root, url, bin_dir)
    if cli == "gemini":
        return gemini_env(root, url, bin_dir)
    return (claude_env if cli == "claude" else codex_env)(root, url, repo, bin_dir)


def cli_setup(cli: str) -> Configure:
    """A CLI in its own TUI adapter: Claude Code, Codex, Copilot or Gemini."""

    def configure(box: Any, server: ModelServer, bin_dir: Path) -> dict[str, str]:
        policy = box.repo / ".middle" / "policy.toml"
        policy.write_text(
            policy.read_text().replace('default_adapter = "command"', f'default_adapter = "{cli}"')
            + '\n[adapters.claude]\npermission_mode = "bypassPermissions"\n'
        )
        git(box.repo, "commit", "-qam", "policy")
        return cli_env(cli, box.root, server.url, box.repo, bin_dir)

    return configure


def measure(configure: Configure, count: int, bin_dir: Path) -> dict[str, Any]:
    turns = [{**ASK, "say": "Asked."}]
    with sandbox() as box, ModelServer(turns) as server:
        refs = box.add_epics(count)
        env = {**os.environ, **configure(box, server, bin_dir)}
        watcher = StopWatcher(box.home / "worktrees")
        watcher.start()
        to_accepted, cli_start, own_start, stop_to_park = [], [], [], []
        before_launch, ready_to_accepted = [], []
        missed = 0
        for ref in refs:
            began = time.time()
            done = subprocess.run(
                [sys.executable, "-m", "middle", "implement", "--issue", ref],
                cwd=box.repo, env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            db = open_db(box.home / "db.sqlite3")
            (row,) = db["workflows"].rows_where("epic_ref = ?", [ref])
            events = {e["type"]: _ts(e["ts"]) for e in db["events"].rows_where(
                "workflow_id = ?", [row["id"]], order_by="id desc")}  # fmt: skip
            accepted = events["agent.prompt-accepted"]
            boot = events["agent.ready"] - events["agent.launched"]
            to_accepted.append((accepted - began) * 1000)
            cli_start.append(boot * 1000)
            own_start.append((accepted - began - boot) * 1000)
            before_launch.append((events["agent.launched"] - began) * 1000)
            ready_to_accepted.append((accepted - events["agent.ready"]) * 1000)
            stops = [t for p, t in watcher.seen.items() if f"issue-{ref}" in str(p)]
            if stops:  # the watcher can miss a hook middle drained first, on a busy machine
                stop_to_park.append((events["workflow.parked"] - max(stops)) * 1000)
            else:
                missed += 1
        watcher.done.set()
    return {
        "implement_to_prompt_accepted_ms": summary(to_accepted),
        "cli_start_to_ready_ms": summary(cli_start),
        "middle_share_of_implement_to_accepted_ms": summary(own_start),
        "of_which_start_to_launch_ms": summary(before_launch),
        "of_which_ready_to_accepted_ms": summary(ready_to_accepted),
        "turn_end_to_parked_ms": summary(stop_to_park) if stop_to_park else None,
        "turn_ends_missed": missed,
    }


def run(quick: bool = False) -> dict[str, Any]:
    bin_dir = agent_bin_dir()
    if bin_dir is None:
        return {"benchmark": "real-agents", "skipped": "run .ci/install-agent-clis first"}
    # --quick (CI's check that the bench runs): two dispatches of Claude Code and Codex;
    # the full run measures every CLI, eight dispatches each.
    count = 2 if quick else 8
    setups: dict[str, Configure] = {"claude": cli_setup("claude"), "codex": cli_setup("codex")}
    if not quick:
        setups |= {"copilot": cli_setup("copilot"), "gemini": cli_setup("gemini"), **ACP_AGENTS}
    return {
        "benchmark": "real-agents",
        "dispatches_per_cli": count,
        **{name: measure(setup, count, bin_dir) for name, setup in setups.items()},
        "targets_ms": {"implement_to_prompt_accepted": 3000, "turn_end_to_parked": 200},
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
