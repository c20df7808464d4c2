"""middle's skills: the `SKILL.md` folders agents load on their own, shipped as package data
(`middle/skills/<name>/`) and written where each agent CLI looks for a repository's skills.

- Claude Code reads `.claude/skills/<name>/SKILL.md`.
- Codex (0.171) reads `.agents/skills/<name>/SKILL.md` in the repository (its
  `~/.codex/skills` is the user's own folder, not a repository's).

Each skill folder also gets `reference.md`, the page for the repository's issue-store mode
(`middle/skills/modes/<mode>.md`): how Epics are kept there, and the commands. `middle init`
writes them into the repository (`repo_files`); dispatch stamps the ones a worktree lacks
(`stamp_skills`), each stamped folder ignoring itself so nothing reaches a commit.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

NAMES = (
    "creating-issues",
    "implementing-issues",
    "recommending",
    "documenting-the-repo",
    "verifying-requirements",
)
ROOTS = (".claude/skills", ".agents/skills")  # Claude Code's, then Codex's
REFERENCE = "reference.md"
SELF_IGNORE = "*\n"  # a stamped folder's .gitignore: the folder, this file included


def _bundled(*parts: str) -> str | None:
    resource = files("middle").joinpath("skills", *parts)
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def skill_text(name: str) -> str:
    text = _bundled(name, "SKILL.md")
    if text is None:
        raise FileNotFoundError(f"middle's package has no skill {name!r}; reinstall middle")
    return text


def reference_text(mode: str) -> str | None:
    """The page for `mode` ("file", "github"); None for a plugin's store, which has none."""
    return _bundled("modes", f"{mode}.md")


def skill_files(mode: str) -> dict[str, str]:
    """Every file of every skill, by its path in a repository, as this middle writes it."""
    reference = reference_text(mode)
    found: dict[str, str] = {}
    for root in ROOTS:
        for name in NAMES:
            found[f"{root}/{name}/SKILL.md"] = skill_text(name)
            if reference is not None:
                found[f"{root}/{name}/{REFERENCE}"] = reference
    return found


def skill_of(path: str) -> str:
    """The skill a path of `skill_files` belongs to: `.claude/skills/<name>/...` -> name."""
    return Path(path).parts[2]


def stamp_skills(worktree: Path, mode: str) -> list[str]:
    """Write each skill folder the worktree lacks, with a `.gitignore` of `*` so that it
    stays out of `git status` and out of commits. A folder the worktree already has (the
    repository's committed copy, perhaps edited by its people) is left as it is. Returns
    the folders written. Safe to re-run."""
    written = []
    for path, text in skill_files(mode).items():
        folder = worktree / Path(path).parent
        if (folder / ".gitignore").exists() or not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".gitignore").write_text(SELF_IGNORE)
            (worktree / path).write_text(text, encoding="utf-8")
            if str(folder.relative_to(worktree)) not in written:
                written.append(str(folder.relative_to(worktree)))
    return written


def drifted(root: Path, mode: str) -> list[str]:
    """The repository's skill files that differ from this middle's (missing ones are not
    drift: the repository never took them, or removed them)."""
    return [
        path
        for path, text in skill_files(mode).items()
        if (root / path).is_file() and (root / path).read_text(encoding="utf-8") != text
    ]
