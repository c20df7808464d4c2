"""The `gh pr ready` gate, as Claude Code's blocking `PreToolUse` hook on Bash.

Claude runs `.middle/hooks/pr_ready.py` (which `agents/claude.py` writes, run with
middle's own Python, isolated) before every Bash call, with the call on stdin. A command
that runs `gh pr ready` (not `--undo`) gets the evidence check a done gets
(`verify.evidence.check_evidence`), on the branch's head; when evidence is missing the
hook exits 2 with the reason on stderr, which Claude shows the model in place of the
call's output. Nothing else is ever blocked: any other command passes, even when the
payload cannot be read. For `gh pr ready` itself an error of the check's own blocks, and
says so, since a check that failed proves nothing. With `[verify] evidence` off, it passes.

The gates are not run here (they can take minutes, and Claude times a hook out): they
run at done, which puts a PR marked ready without passing back to draft.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

BLOCK = 2  # Claude's blocking exit code for PreToolUse: stderr goes to the model
# `gh pr ready` as a command of a shell line: gh (or a path to it) at a command's start,
# then `pr ready`, with the rest of that command up to the next separator.
_PR_READY = re.compile(r"(?:^|[;&|(){}\n`]|\$\()\s*(?:\S*/)?gh\s+pr\s+ready\b(?P<rest>[^;&|\n)`]*)")


def runs_pr_ready(command: str) -> bool:
    """Whether a shell command line runs `gh pr ready` (marking a PR ready; `--undo`,
    which puts it back to draft, is not)."""
    return any("--undo" not in m["rest"].split() for m in _PR_READY.finditer(command))


def command_of(raw: str) -> str:
    """The Bash call's command in a `PreToolUse` payload; the raw text when the payload
    cannot be read (so a `gh pr ready` in it is still seen)."""
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw
    tool_input = payload.get("tool_input") if isinstance(payload, dict) else None
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    return command if isinstance(command, str) else ""


def main(worktree: Path, home: Path, stdin: Any = None, stderr: Any = None) -> int:
    """The hook: 0 lets the call run, `BLOCK` refuses it with the reason on `stderr`."""
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    try:
        command = command_of(stdin.read())
    except Exception:  # unreadable input: nothing is known to block
        return 0
    if not runs_pr_ready(command):
        return 0
    try:
        reason = missing_evidence(worktree, home, os.environ.get("MIDDLE_EPIC", ""))
    except Exception as exc:  # for `gh pr ready`, an unchecked call is refused
        reason = (
            f"middle could not check the acceptance criteria's evidence before `gh pr "
            f"ready` ({type(exc).__name__}: {exc}), so the pull request stays a draft. "
            "Finish with done.json instead; middle checks the evidence at done."
        )
    if reason is None:
        return 0
    print(reason, file=stderr)
    return BLOCK


def missing_evidence(worktree: Path, home: Path, ref: str) -> str | None:
    """Why the branch checked out in `worktree` may not be marked ready (None if it may):
    the same check a done gets."""
    from middle.app.repo import base_branch
    from middle.app.runtime import Runtime
    from middle.system.git import current_branch, git
    from middle.verify.checkout import head_of
    from middle.verify.evidence import check_evidence, evidence_policy
    from middle.verify.gates import load_gates

    common = Path(git("rev-parse", "--git-common-dir", cwd=worktree))
    repo = (common if common.is_absolute() else worktree / common).resolve().parent
    runtime = Runtime(repo, home=home)
    gates = load_gates(repo, base_branch(runtime.config, repo))
    policy = evidence_policy(runtime.config, has_verify_file=bool(gates))
    if not policy.required:
        return None
    if not ref:
        raise ValueError("MIDDLE_EPIC, the issue this session works on, is not set")
    branch = current_branch(worktree)
    head = head_of(repo, branch)
    verdict = check_evidence(
        runtime.issues, repo=repo, ref=ref, branch=branch, head=head, done={}, policy=policy
    )
    return None if verdict.ok else verdict.report()
