"""`init`: set a repository up for middle. Idempotent: a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

from middle import git
from middle.app.repo import resolve_repo
from middle.config import load_config, middle_home
from middle.github import Gh, github_slug
from middle.issues.state_store import STATE_LABEL, StateIssueOnGitHub
from middle.state_issue import StateIssue, render
from middle.store import utcnow
from middle.worktree import IGNORED

POLICY = """\
# middle's settings for this repository (merged over $MIDDLE_HOME/config.toml).
[repo]
# default_adapter = "claude"      # claude, codex or command

[epic_store]
mode = "{mode}"                   # "file": Epics in planning/epics; "github": GitHub issues
epics_dir = "planning/epics"

[limits]
max_concurrent = 3
complexity_ceiling = 3
# launch_timeout_seconds = 120
# turn_timeout_seconds = 14400
"""

GITIGNORE = IGNORED  # what middle writes into worktrees (middle.worktree)

EPICS_README = """\
# Epics

Each `<slug>.md` here is one Epic that `middle implement --issue <slug>` can dispatch.
Lines of the form `<!-- middle:... -->` are structure that middle owns; write prose
between them. middle appends the agent's questions and your answers to the conversation
block; answer with `middle answer --issue <slug> --text "..."`.

```md
<!-- middle:epic v1 -->
# Retry failed webhooks

<!-- middle:meta
slug: retry-webhooks
approved: true
-->

## Context

Why this matters, what exists, what to watch out for.

## Acceptance criteria

- [ ] Failed deliveries retry with exponential backoff

## Sub-issues

<!-- middle:sub-issue id=1 -->
- [ ] **1 — Retry queue**
  Persist failed deliveries and retry them with backoff.
<!-- /middle:sub-issue -->

<!-- middle:conversation -->
<!-- /middle:conversation -->
```

Optional meta keys: `adapter` (the agent for this Epic), `complexity_ceiling`, `labels`.
"""


LABELS = (
    ("approved", "0e8a16", "middle may dispatch an agent at this issue"),
    ("agent:claude", "5319e7", "middle: implement with Claude Code"),
    ("agent:codex", "1d76db", "middle: implement with Codex"),
    ("agent:command", "bfdadc", "middle: implement with the configured agent command"),
    ("agent-queue:state", "fbca04", "middle: the state issue, the ranked plan of what is next"),
)


def empty_state() -> StateIssue:
    """The state issue before the first recommender run: every section empty."""
    return StateIssue(generated=utcnow(), run_id="00000000", interval="off")


def init_repo(repo: str | Path, *, github: bool = False) -> list[str]:
    """Write what is missing; return one line per change (empty when already set up).
    In GitHub mode (`github=True` for a new policy, or the existing policy's mode), also
    create or update the labels middle reads."""
    root = git.repo_root(resolve_repo(repo))
    changes = []
    policy = root / ".middle" / "policy.toml"
    if not policy.exists():
        policy.parent.mkdir(parents=True, exist_ok=True)
        policy.write_text(POLICY.format(mode="github" if github else "file"))
        changes.append(f"wrote {policy.relative_to(root)}")
    gitignore = root / ".gitignore"
    present = gitignore.read_text().splitlines() if gitignore.exists() else []
    missing = [line for line in GITIGNORE if line not in present]
    if missing:
        prefix = "" if not present or gitignore.read_text().endswith("\n") else "\n"
        with gitignore.open("a") as handle:
            handle.write(prefix + "\n".join(["# middle", *missing]) + "\n")
        changes.append(f"added {len(missing)} line(s) to .gitignore")
    if load_config(middle_home(), root)["epic_store"].get("mode") == "github":
        gh = Gh(root)
        slug = github_slug(root)
        for name, color, description in LABELS:
            gh.run("label", "create", name, "--color", color, "--description", description,
                   "--force", "--repo", slug)  # fmt: skip
        changes.append(f"created or updated {len(LABELS)} labels on {slug}")
        number, created = StateIssueOnGitHub(root, gh).ensure(render(empty_state()))
        if created:
            changes.append(f"created the state issue #{number} ({STATE_LABEL}) on {slug}")
    readme = root / "planning" / "epics" / "README.md"
    if not readme.exists():
        readme.parent.mkdir(parents=True, exist_ok=True)
        readme.write_text(EPICS_README)
        changes.append(f"wrote {readme.relative_to(root)}")
    return changes
