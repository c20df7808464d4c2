"""Gate overhead: what a gate run costs beyond its command, on a repo of 5,000 files.

The command is `true`, run directly (`sh -c true` in the repo, as the gate runs it) and as
a gate, in the same run. A gate run is what a turn does when the agent says done: read
the gates from the base branch's commit, resolve the branch's head, get the clean
checkout of it, run the gates, and (at the turn's end) remove the checkout.

- cold: a turn's first gate run, which makes the checkout (`git worktree add`) and
  removes it;
- warm: a later gate run of the same turn (after a nudge), which moves the checkout to
  the new head (`git checkout --detach -f` and `git clean -ffdx`).

`git worktree add` and the removal are also timed alone, and so is the floor of any
checkout: Python writing the same 5,000 files. All of them are interleaved, round by
round, so a busy machine slows each of them alike.

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
from middle.verify.checkout import GateCheckout, checkout_path, head_of
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
        checkout = GateCheckout(repo, checkout_path(root / "home", repo, "bench"))

        def gate_run(*, remove: bool) -> None:
            gates = load_gates(repo, "main")
            head = head_of(repo, BRANCH)
            (result,) = run_gates(gates, checkout.at(head), head)
            assert result.passed, result.tail
            if remove:
                checkout.remove()

        direct, cold, warm, adds, removes, floor = [], [], [], [], [], []
        for n in range(rounds):
            advance(worktree, 2 * n)
            direct.append(timed(lambda: subprocess.run(["sh", "-c", "true"], cwd=repo)))
            cold.append(timed(lambda: gate_run(remove=True)))
            head = head_of(repo, BRANCH)
            adds.append(timed(lambda head=head: checkout.at(head)))  # git's part, alone
            removes.append(timed(checkout.remove))
            gate_run(remove=False)  # the turn's first gate run; the next one is warm
            advance(worktree, 2 * n + 1)
            warm.append(timed(lambda: gate_run(remove=False)))
            checkout.remove()
            floor.append(timed(lambda: write_files(root / "floor")))
            shutil.rmtree(root / "floor")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = summary(direct)["median"]
    cold_s, warm_s = summary(cold), summary(warm)
    return {
        "benchmark": "gate-overhead",
        "files": FILES,
        "rounds": rounds,
        "repo_setup_s": round(setup_s, 1),
        "true_directly_ms": summary(direct),
        "cold_gate_run_ms": cold_s,
        "warm_gate_run_ms": warm_s,
        "git_worktree_add_ms": summary(adds),
        "checkout_remove_ms": summary(removes),
        "write_5000_files_ms": summary(floor),
        "cold_overhead_ms": round(cold_s["median"] - base, 1),
        "warm_overhead_ms": round(warm_s["median"] - base, 1),
        "cold_ratio": round(cold_s["median"] / base, 1),
        "warm_ratio": round(warm_s["median"] / base, 1),
        "target_ms": {"overhead": 300},
    }


if __name__ == "__main__":
    where = sys.argv[sys.argv.index("--dir") + 1] if "--dir" in sys.argv else None
    print(json.dumps(run("--quick" in sys.argv, where), indent=2))
