"""Gate overhead: what a gate run costs beyond its command, on a repo of 5,000 files.

The command is `true`, run directly (`sh -c true` in the repo, as the gate runs it) and as
a gate, in the same run. A gate run is what middle does at a done or a ticked phase: read
the gates from the base branch's commit, resolve the branch's head, lease the repo's kept
checkout and move it to that head (`git checkout --detach -f` and `git clean -ffdx`),
and run the gates. The agent commits once more before each gate run.

- kept: middle's gate run, on the repo's kept checkout (the first one of all makes it,
  outside the timing, as once per repo);
- fresh, the paired baseline: the same gate run on a fresh checkout, made by `git
  worktree add` and removed after (what a turn's first gate run did before the checkout
  was kept).

The floor of any fresh checkout, Python writing the same 5,000 files, is timed too. All
of them are interleaved, round by round, so a busy machine slows each of them alike.

Target: under 300 ms median overhead.

python -m bench.gates [--quick] [--dir PATH]   # PATH: where the repo and checkouts go
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import git, summary
from middle.verify.checkout import GateCheckout, checkout_path, head_of, leased_checkout
from middle.verify.gates import load_gates, run_gates

FILES = 5000
BRANCH = "middle/issue-bench"
GATES = '[[gate]]\nname = "trivial"\ncommand = "true"\n'


def write_files(top: Path) -> None:
    """`FILES` small files in 50 folders: the repo's tree, and the floor of any checkout."""
    for n in range(FILES):
        folder = top / f"pkg{n % 50}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"module_{n}.py").write_text(f"VALUE = {n}\n" * 20)


def make_repo(root: Path) -> Path:
    """A repo of `FILES` files, its gates committed on `main`, and the agent's branch."""
    repo = root / "repo"
    write_files(repo)
    (repo / ".middle").mkdir()
    (repo / ".middle" / "verify.toml").write_text(GATES)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "5,000 files")
    git(repo, "branch", BRANCH)
    return repo


def advance(worktree: Path, n: int) -> None:
    """The agent commits once more on its branch."""
    (worktree / "WORK.md").write_text(f"turn {n}\n")
    git(worktree, "add", "WORK.md")
    git(worktree, "commit", "-q", "-m", f"turn {n}")


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def run(quick: bool = False, folder: str | None = None) -> dict[str, Any]:
    rounds = 3 if quick else 21
    root = Path(tempfile.mkdtemp(prefix="mb-gates-", dir=folder))
    try:
        began = time.perf_counter()
        repo = make_repo(root)
        setup_s = time.perf_counter() - began
        worktree = root / "agent"
        git(repo, "worktree", "add", "-q", str(worktree), BRANCH)
        home = root / "home"
        fresh = GateCheckout(repo, checkout_path(home, repo, "fresh"))

        def kept_run() -> None:
            gates = load_gates(repo, "main")
            head = head_of(repo, BRANCH)
            with leased_checkout(home, repo) as checkout:
                (result,) = run_gates(gates, checkout.at(head), head)
            assert result.passed, result.tail

        def fresh_run() -> None:
            gates = load_gates(repo, "main")
            head = head_of(repo, BRANCH)
            (result,) = run_gates(gates, fresh.at(head), head)
            assert result.passed, result.tail
            fresh.remove()

        kept_run()  # the repo's first gate run makes the kept checkout, once
        direct, kept, cold, floor = [], [], [], []
        for n in range(rounds):
            advance(worktree, 2 * n)
            direct.append(timed(lambda: subprocess.run(["sh", "-c", "true"], cwd=repo)))
            kept.append(timed(kept_run))
            advance(worktree, 2 * n + 1)
            cold.append(timed(fresh_run))
            floor.append(timed(lambda: write_files(root / "floor")))
            shutil.rmtree(root / "floor")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = summary(direct)["median"]
    kept_s, cold_s = summary(kept), summary(cold)
    return {
        "benchmark": "gate-overhead",
        "files": FILES,
        "rounds": rounds,
        "repo_setup_s": round(setup_s, 1),
        "true_directly_ms": summary(direct),
        "kept_checkout_gate_run_ms": kept_s,
        "fresh_checkout_gate_run_ms": cold_s,
        "write_5000_files_ms": summary(floor),
        "kept_overhead_ms": round(kept_s["median"] - base, 1),
        "fresh_overhead_ms": round(cold_s["median"] - base, 1),
        "speedup": round(cold_s["median"] / kept_s["median"], 1),
        "target_ms": {"overhead": 300},
    }


if __name__ == "__main__":
    where = sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else None
    print(json.dumps(run("--quick" in sys.argv, where), indent=2))
