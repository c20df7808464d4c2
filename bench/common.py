"""What the benchmarks share: a private sandbox (MIDDLE_HOME, tmux server, sample repo with
Epics), the stand-in agent, and summaries as medians and percentiles."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from middle.app.demo import sample_epic

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@middle.invalid"]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(pick(0.9), 3),
        "p99": round(pick(0.99), 3),
        "n": len(ordered),
    }


@dataclass
class BenchSandbox:
    root: Path
    repo: Path
    home: Path
    socket: str
    log: Path

    def script(self, turns: list[dict[str, Any]]) -> None:
        path = self.root / "script.json"
        path.write_text(json.dumps(turns))
        argv = [sys.executable, "-m", "middle.agents.standin", "--script", str(path)]
        os.environ["MIDDLE_AGENT_COMMAND"] = shlex.join([*argv, "--log", str(self.log)])

    def add_epics(self, count: int) -> list[str]:
        refs = [f"epic-{n}" for n in range(count)]
        for ref in refs:
            text = sample_epic().replace("slug: retry-webhooks", f"slug: {ref}")
            (self.repo / "planning" / "epics" / f"{ref}.md").write_text(text)
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", "epics")
        return refs

    def agent_log(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=repo, check=True, capture_output=True)


@contextmanager
def sandbox(limits: str = "") -> Iterator[BenchSandbox]:
    """Point MIDDLE_HOME and MIDDLE_TMUX_SOCKET at a throwaway folder for the block."""
    saved = {
        k: os.environ.get(k) for k in ("MIDDLE_HOME", "MIDDLE_TMUX_SOCKET", "MIDDLE_AGENT_COMMAND")
    }
    root = Path(tempfile.mkdtemp(prefix="mb-", dir="/tmp"))
    repo = root / "repo"
    (repo / "planning" / "epics").mkdir(parents=True)
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text(
        "[limits]\nmax_concurrent = 100\nlaunch_timeout_seconds = 120\n"
        f"turn_timeout_seconds = 600\n{limits}\n"
        '[repo]\ndefault_adapter = "command"\n'
    )
    (root / "config.toml").write_text("[global]\nmax_concurrent = 100\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    home = root / "home"
    home.mkdir()
    (home / "config.toml").write_text("[global]\nmax_concurrent = 100\n")
    socket = str(root / "tmux.sock")
    os.environ.update({"MIDDLE_HOME": str(home), "MIDDLE_TMUX_SOCKET": socket})
    try:
        yield BenchSandbox(root, repo, home, socket, root / "agent.jsonl")
    finally:
        subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        subprocess.run(["rm", "-rf", str(root)], check=False)
