"""What middle keeps in a worktree's `.middle/` folder, named in one place.

- `prompt.md`: the brief for the current turn;
- `hooks/hook.sh`: the relay the agent's hook config calls, and `spool/`, where it
  leaves each hook for middle to record; `hooks/pr_ready.py`, Claude's `gh pr ready` check;
- `plan.json`: the agent's plan, when `[verify] require_plan` asks for one;
- `done.json`, `blocked.json`, `failed.json`: the sentinels the agent writes;
- `agent/`: files of the bundled stand-in agent;
- `homes/<adapter>/`: an agent CLI's own home for this worktree, where the CLI keeps its
  config, hooks and sessions in a folder named by a variable (Copilot's `COPILOT_HOME`);
- `agent-env.json`: the agent's environment, for the moment between writing it and the
  launcher reading and deleting it.

None of it belongs in the agent's commits: `IGNORED` is what `git.exclude_middle_files`
writes into the worktree's `info/exclude`, and what `middle init` adds to `.gitignore`.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = ".middle"
SENTINELS = ("done.json", "blocked.json", "failed.json")
CLAUDE_LOCAL_SETTINGS = ".claude/settings.local.json"  # Claude Code's untracked settings
DOCS_REPORT = f"{FOLDER}/docs-report.md"  # the documentation run's report: middle keeps it

IGNORED = (
    f"{FOLDER}/prompt.md",
    f"{FOLDER}/hooks/",
    f"{FOLDER}/spool/",
    f"{FOLDER}/agent/",
    f"{FOLDER}/homes/",
    f"{FOLDER}/agent-env.json",
    f"{FOLDER}/plan.json",
    DOCS_REPORT,
    *(f"{FOLDER}/{name}" for name in SENTINELS),
    CLAUDE_LOCAL_SETTINGS,
)


def prompt_path(worktree: Path) -> Path:
    return worktree / FOLDER / "prompt.md"


def sentinel_path(worktree: Path, name: str) -> Path:
    return worktree / FOLDER / name


def hook_script(worktree: Path) -> Path:
    return worktree / FOLDER / "hooks" / "hook.sh"


def pr_ready_script(worktree: Path) -> Path:
    """Claude Code's blocking `gh pr ready` check (`app/pr_ready_hook.py`)."""
    return worktree / FOLDER / "hooks" / "pr_ready.py"


def plan_file(worktree: Path) -> Path:
    """The agent's plan, `{"plan": "..."}`, which middle records on the issue."""
    return worktree / FOLDER / "plan.json"


def spool_dir(worktree: Path) -> Path:
    return worktree / FOLDER / "spool"


def agent_home(worktree: Path, adapter: str) -> Path:
    """The home an agent CLI keeps for this worktree alone (see `homes/` above)."""
    return worktree / FOLDER / "homes" / adapter


def env_file(worktree: Path) -> Path:
    return worktree / FOLDER / "agent-env.json"
