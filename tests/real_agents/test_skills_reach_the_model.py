"""middle's skills reach the real agent (issue 21 item 1): dispatch stamps them into the
run's worktree, git-ignored, and the pinned CLI lists each one to the model, read here from
the requests the scripted model server received. Where each CLI lists them is in FACTS.md
("Skills"): Claude Code in a `system`-role message of `messages`, Codex in a developer
message's `<skills_instructions>`, with the folder it read each one from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from middle.system.skills import NAMES
from tests.e2e.conftest import git, sandbox
from tests.fakes.model_server import flatten
from tests.real_agents.conformance_agents import done
from tests.real_agents.test_middle_drives_real_clis import RealRun, cli, real

__all__ = ["cli", "real", "sandbox"]  # fixtures, reused

CLAUDE_HEADER = "The following skills are available for use with the Skill tool:"
_LISTED = re.compile(r"^- ([\w:./-]+): ", re.M)
_CODEX_ROOT = re.compile(r"^- `(r\d+)` = `([^`]+)`$", re.M)
_CODEX_SKILL = re.compile(r"^- ([\w:./-]+): .*\(file: (r\d+)/([^)]+)\)$", re.M)


def texts(items: list[dict[str, Any]]) -> list[str]:
    return [flatten(item.get("content")) for item in items]


def claude_skills(body: dict[str, Any]) -> set[str]:
    """The skills Claude Code lists to the model: the `- name: description` lines under its
    header, in a message of the request (a `system`-role one in 2.1.197)."""
    for text in texts(body.get("messages", [])):
        if CLAUDE_HEADER in text:
            listing = text.split(CLAUDE_HEADER, 1)[1].lstrip("\n").split("\n\n", 1)[0]
            return set(_LISTED.findall(listing))
    return set()


def codex_skills(body: dict[str, Any]) -> dict[str, Path]:
    """The skills Codex lists to the model, each with the SKILL.md it read: its
    `<skills_instructions>` entries `- name: description (file: rN/name/SKILL.md)`, `rN`
    resolved through the listing's table of skill roots."""
    for text in texts(body.get("input", [])):
        if text.startswith("<skills_instructions>"):
            roots = dict(_CODEX_ROOT.findall(text))
            return {
                name: Path(roots[root]) / rest for name, root, rest in _CODEX_SKILL.findall(text)
            }
    return {}


def model_requests(real: RealRun) -> list[dict[str, Any]]:
    """The bodies of the main model's requests (the ones that offer tools)."""
    return [r["body"] for r in real.server.requests if r["body"] and r["body"].get("tools")]


@pytest.mark.turns(done("with skills"))
def test_the_stamped_skills_reach_the_model(real: RealRun) -> None:
    """The repo never ran `middle init`: the skills the model is told about are the ones
    dispatch stamped into the worktree, which git ignores. Seen red: with `stamp_skills`
    returning before it wrote anything, Claude listed only its bundled skills (`claude-api`,
    `code-review`, `deep-research`, ...) and Codex only those of `$CODEX_HOME/skills/.system`
    (`imagegen`, ...): none of the five."""
    result = real.implement()
    assert result.returncode == 0, result.stderr
    assert "ready for review" in result.stdout
    worktree = real.sandbox.worktree().resolve()
    bodies = model_requests(real)
    assert bodies, real.server.requests
    for body in bodies:  # every request of the turn, not only the first
        if real.cli == "claude":
            listed = claude_skills(body)
            assert set(NAMES) <= listed, sorted(listed)
        else:
            read = codex_skills(body)
            expected = {name: worktree / ".agents/skills" / name / "SKILL.md" for name in NAMES}
            assert {name: read.get(name) for name in NAMES} == expected, read
    for name in NAMES:  # what the CLI read is out of git's sight
        for root in (".claude/skills", ".agents/skills"):
            git(worktree, "check-ignore", "-q", f"{root}/{name}/SKILL.md")
