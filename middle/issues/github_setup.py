"""What GitHub mode needs before the first dispatch: `gh`, logged in (`middle doctor`), and
the labels middle reads plus the state issue (`middle init`)."""

from __future__ import annotations

from pathlib import Path

from middle.checks import Check, check_tool
from middle.errors import GitHubError
from middle.issues.labels import ELIGIBLE_LABEL, EPIC_LABEL
from middle.issues.state_location import STATE_LABEL, StateIssueOnGitHub, empty_state
from middle.state_issue import render
from middle.system.github import Gh

LABELS = (
    ("approved", "0e8a16", "middle may dispatch an agent at this issue"),
    ("agent:claude", "5319e7", "middle: implement with Claude Code"),
    ("agent:codex", "1d76db", "middle: implement with Codex"),
    ("agent:command", "bfdadc", "middle: implement with the configured agent command"),
    (STATE_LABEL, "fbca04", "middle: the state issue, the ranked plan of what is next"),
    (EPIC_LABEL, "3e4b9e", "middle: an Epic the recommender ranks"),
    (ELIGIBLE_LABEL, "c5def5", "middle: ranked by the recommender in a repo of 200+ issues"),
    ("needs-design", "d93f0b", "middle: the acceptance criteria need design before dispatch"),
    ("blocked", "b60205", "middle: never dispatched while this label is on"),
    ("wontfix", "ffffff", "middle: never dispatched"),
)


def check_gh(repo: Path) -> Check:
    """GitHub mode needs `gh`, logged in."""
    found = check_tool("gh", ["gh", "--version"])
    if found.verdict != "ok":
        return found
    try:
        Gh(repo).run("auth", "status")
    except GitHubError as exc:
        said = str(exc).removeprefix("gh auth status failed: ").splitlines()
        return Check("fail", "gh", f"not logged in ({said[0]}); run: gh auth login")
    return Check("ok", "gh", "logged in")


def set_up_github(repo: Path, gh: Gh, slug: str) -> list[str]:
    """Create or update the labels middle reads, and create the state issue once."""
    for name, color, description in LABELS:
        gh.run("label", "create", name, "--color", color, "--description", description,
               "--force", "--repo", slug)  # fmt: skip
    changes = [f"created or updated {len(LABELS)} labels on {slug}"]
    number, created = StateIssueOnGitHub(repo, gh).ensure(render(empty_state()))
    if created:
        changes.append(f"created the state issue #{number} ({STATE_LABEL}) on {slug}")
    return changes
