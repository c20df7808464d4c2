"""Start-up: the whole-process wall time of the commands a user waits on, each paired in
the same run with a bare Python start (`python -c pass`, the floor).

Each round runs every command next to its own floor run, A then B on even rounds and B
then A on odd ones, so a machine that speeds up or slows down during the run moves both
sides of a pair alike. A command's ratio is the median of its per-round ratios (the median
of its times over the median of its floor's is reported beside it).

- `middle --help`, outside any repository: target ≤ 4x the floor;
- `middle status` outside a repository, the home holding one finished run: ≤ 5x;
- `middle status` inside a file-mode repository (one Epic), one run parked on it: ≤ 5x;
- `middle steps` inside that repository, and `middle doctor` there (it runs the agent
  CLIs' `--version` and asks tmux, so it is slow for real reasons): reported, no target.

Each command has its own MIDDLE_HOME, tmux socket and HOME under one temporary folder; the
user's own are never read or written. The installed agent CLIs (`.ci/install-agent-clis`)
are put on PATH when present, so `doctor` checks them as it would for a user.

python -m bench.startup [--quick]   # the table on stderr, the JSON on stdout
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import git, summary
from middle.app.demo import REF, sample_epic
from middle.store import create_workflow_record, open_db, transition_workflow, update_workflow
from tests.real_agents.harness import agent_bin_dir


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    in_repo: bool
    target: float | None  # the largest ratio to the floor that meets the target


CASES = (
    Case("middle --help", ["--help"], in_repo=False, target=4.0),
    Case("middle status (no repo, 1 finished run)", ["status"], in_repo=False, target=5.0),
    Case("middle status (file-mode repo, 1 parked run)", ["status"], in_repo=True, target=5.0),
    Case("middle steps", ["steps"], in_repo=True, target=None),
    Case("middle doctor", ["doctor"], in_repo=True, target=None),
)


def middle_argv() -> list[str]:
    """The console script a user runs, installed beside this Python; `-m middle` if not."""
    script = Path(sys.executable).parent / "middle"
    return [str(script)] if script.exists() else [sys.executable, "-m", "middle"]


def make_repo(root: Path) -> Path:
    """A file-mode repository set up for middle, with the demo's Epic committed."""
    repo = root / "repo"
    (repo / "planning" / "epics").mkdir(parents=True)
    (repo / "planning" / "epics" / f"{REF}.md").write_text(sample_epic())
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text('[repo]\ndefault_adapter = "claude"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def make_env(root: Path, slug: str, path: str) -> dict[str, str]:
    """A command's own HOME, MIDDLE_HOME and tmux socket, all under `root`."""
    home = root / "homes" / slug
    (home / "middle").mkdir(parents=True)
    (home / "middle" / "config.toml").write_text("[global]\nmax_concurrent = 4\n")
    # Not PYTHONDONTWRITEBYTECODE: a user's middle starts from cached bytecode, which the
    # warm-up run writes.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MIDDLE_", "CODEX_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        HOME=str(home),
        MIDDLE_HOME=str(home / "middle"),
        MIDDLE_TMUX_SOCKET=str(root / "sockets" / slug),
        PATH=path,
    )
    return env


def add_run(middle_home: Path, repo: Path, state: str) -> None:
    """One workflow on the demo's Epic, left in `state` (a finished or a parked run)."""
    db = open_db(middle_home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-bench", kind="implementation", repo=str(repo), epic_ref=REF, adapter="claude"
    )
    if state == "completed":
        transition_workflow(db, "wf-bench", "completed", leaving="pending")
    else:
        update_workflow(db, "wf-bench", state=state)
    db.close()


def wall_ms(argv: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> float:
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    took = (time.perf_counter() - began) * 1000
    if check and done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return took


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 3 if quick else 15
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="mb-startup-"))
    bins = agent_bin_dir()  # read before HOME moves
    path = os.environ.get("PATH", "")
    if bins is not None:
        path = f"{bins}{os.pathsep}{path}"
    try:
        (root / "sockets").mkdir()
        outside = root / "outside"
        outside.mkdir()
        repo = make_repo(root)
        envs = {case.name: make_env(root, f"case{n}", path) for n, case in enumerate(CASES)}
        floor_env = make_env(root, "floor", path)
        add_run(Path(envs[CASES[1].name]["MIDDLE_HOME"]), repo, "completed")
        add_run(Path(envs[CASES[2].name]["MIDDLE_HOME"]), repo, "waiting-human")
        middle = middle_argv()
        floor_argv = [sys.executable, "-c", "pass"]

        def timed(case: Case) -> float:
            cwd = repo if case.in_repo else outside
            return wall_ms(
                [*middle, *case.args], cwd, envs[case.name], check=case.args[0] != "doctor"
            )

        for case in CASES:  # warm the page cache and the bytecode; not counted
            timed(case)
        wall_ms(floor_argv, outside, floor_env)
        times: dict[str, list[float]] = {case.name: [] for case in CASES}
        floors: dict[str, list[float]] = {case.name: [] for case in CASES}
        for n in range(rounds):
            for case in CASES:
                if n % 2 == 0:
                    floors[case.name].append(wall_ms(floor_argv, outside, floor_env))
                    times[case.name].append(timed(case))
                else:
                    times[case.name].append(timed(case))
                    floors[case.name].append(wall_ms(floor_argv, outside, floor_env))
        doctor_exit = subprocess.run(
            [*middle, "doctor"], cwd=repo, env=envs["middle doctor"], capture_output=True
        ).returncode
    finally:
        for socket in (root / "sockets").glob("*"):  # a server a command may have started
            subprocess.run(["tmux", "-S", str(socket), "kill-server"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    commands = {}
    for case in CASES:
        ratios = [a / b for a, b in zip(times[case.name], floors[case.name], strict=True)]
        ratio = statistics.median(ratios)
        wall, floor = summary(times[case.name]), summary(floors[case.name])
        commands[case.name] = {
            "wall_ms": wall,
            "floor_ms": floor,
            "ratio": round(ratio, 2),
            "ratio_of_medians": round(wall["median"] / floor["median"], 2),
            "target_ratio": case.target,
            "met": None if case.target is None else ratio <= case.target,
        }
    return {
        "benchmark": "start-up",
        "rounds": rounds,
        "floor": "python -c pass",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "agent_clis_on_path": bins is not None,
        "doctor_exit_code": doctor_exit,
        "commands": commands,
    }


def table(report: dict[str, Any]) -> str:
    """The report as a text table: medians, the paired ratio, the target and the verdict."""
    lines = [
        f"{'command':<46} {'median':>8} {'floor':>7} {'ratio':>6} {'target':>7}  verdict",
    ]
    for name, row in report["commands"].items():
        target = "-" if row["target_ratio"] is None else f"<= {row['target_ratio']:g}x"
        verdict = {None: "reported", True: "met", False: "MISSED"}[row["met"]]
        lines.append(
            f"{name:<46} {row['wall_ms']['median']:>6.1f}ms {row['floor_ms']['median']:>5.1f}ms"
            f" {row['ratio']:>5.2f}x {target:>7}  {verdict}"
        )
    lines.append(
        f"{report['rounds']} paired rounds; load average before {report['load_average_before']},"
        f" after {report['load_average_after']}; doctor exited {report['doctor_exit_code']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run("--quick" in sys.argv)
    print(table(result), file=sys.stderr)
    print(json.dumps(result, indent=2))
