"""middle's skills (issue 21 item 1): `init` writes them where Claude Code and Codex look,
`uninit` takes them out, dispatch stamps them into every worktree out of git's sight,
`doctor` names a drifted one, and `init --upgrade-skills` refreshes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.app.doctor import run_checks
from middle.system.skills import NAMES, ROOTS, skill_files, skill_text
from tests.conftest import run_middle
from tests.e2e.conftest import REF, Sandbox, git
from tests.e2e.test_uninit import commit_all, repo, snapshot

__all__ = ["repo"]  # the fixture, shared with test_uninit

CLAUDE_SKILL = ".claude/skills/implementing-issues/SKILL.md"


def test_init_writes_the_five_skills_for_each_agent_and_uninit_removes_them(repo: Path) -> None:
    """Seen red: init wrote no skills (no .claude/skills/ after init)."""
    before = snapshot(repo)

    done = run_middle("init", "--repo", str(repo))

    assert done.returncode == 0, done.stderr
    for root in ROOTS:
        for name in NAMES:
            text = (repo / root / name / "SKILL.md").read_text()
            assert text.startswith(f"---\nname: {name}\ndescription: ")
            reference = (repo / root / name / "reference.md").read_text()
            assert reference.startswith("# This repository: file mode")
    commit_all(repo)
    undone = run_middle("uninit", "--repo", str(repo))
    assert undone.returncode == 0, undone.stderr
    assert f"removed {CLAUDE_SKILL}" in undone.stdout
    assert snapshot(repo) == before


def test_a_fresh_worktree_has_the_skills_out_of_git_status(sandbox: Sandbox) -> None:
    """The sandbox repo never ran init: the run has the skills anyway, and they are not
    the agent's changes. Seen red: the worktree had no .claude/skills/."""
    sandbox.script({"do": "ask", "question": "Which base?"})

    asked = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert asked.returncode == 0, asked.stderr
    worktree = sandbox.worktree()
    for path, text in skill_files("file").items():
        assert (worktree / path).read_text() == text, path
    assert git(worktree, "status", "--porcelain", "--untracked-files=all") == ""
    brief = (worktree / ".middle" / "prompt.md").read_text()
    assert "`implementing-issues`" in brief and ".middle/done.json" in brief


def test_a_skill_the_repo_changed_is_kept_in_the_worktree(sandbox: Sandbox) -> None:
    """A committed, edited skill is the people's: the stamp leaves it. Seen red: the
    worktree's copy was middle's."""
    ours = "---\nname: implementing-issues\ndescription: our way\n---\n\nOur rules.\n"
    (sandbox.repo / CLAUDE_SKILL).parent.mkdir(parents=True)
    (sandbox.repo / CLAUDE_SKILL).write_text(ours)
    commit_all(sandbox.repo)
    sandbox.script({"do": "ask", "question": "Which base?"})

    asked = sandbox.middle("implement", "--issue", REF, "--agent", "command")

    assert asked.returncode == 0, asked.stderr
    assert (sandbox.worktree() / CLAUDE_SKILL).read_text() == ours
    assert not (sandbox.worktree() / ".claude/skills/implementing-issues/reference.md").exists()
    stamped = sandbox.worktree() / ".agents/skills/implementing-issues/SKILL.md"
    assert stamped.read_text() == skill_text("implementing-issues")


def test_doctor_names_a_drifted_skill_and_the_fix(repo: Path, home: Path) -> None:
    """Seen red: doctor had no skills check."""
    assert run_middle("init", "--repo", str(repo)).returncode == 0
    (repo / CLAUDE_SKILL).write_text("---\nname: implementing-issues\ndescription: old\n---\n")

    (check,) = [c for c in run_checks(home, repo) if c.name == "skills"]

    assert check.verdict == "warn"
    assert CLAUDE_SKILL in check.detail and "middle init --upgrade-skills" in check.detail


@pytest.mark.parametrize("edited", [False, True])
def test_init_upgrade_skills_refreshes_middles_copies(repo: Path, home: Path, edited: bool) -> None:
    """A copy init wrote (an older middle's) is refreshed; one the user edited is kept and
    named. Seen red: invoke said "No idea what '--upgrade-skills' is!"."""
    assert run_middle("init", "--repo", str(repo)).returncode == 0
    commit_all(repo)
    old = "---\nname: implementing-issues\ndescription: old\n---\n"
    (repo / CLAUDE_SKILL).write_text(old)
    if not edited:  # what an older middle wrote, as init recorded it
        import json

        from middle.app.configure.init import MANIFEST, digest

        manifest = json.loads((repo / MANIFEST).read_text())
        manifest["files"][CLAUDE_SKILL] = digest(old.encode())
        (repo / MANIFEST).write_text(json.dumps(manifest))
    commit_all(repo)

    upgraded = run_middle("init", "--repo", str(repo), "--upgrade-skills")

    assert upgraded.returncode == 0, upgraded.stderr
    if edited:
        assert (repo / CLAUDE_SKILL).read_text() == old
        assert f"kept {CLAUDE_SKILL}" in upgraded.stdout
    else:
        assert (repo / CLAUDE_SKILL).read_text() == skill_text("implementing-issues")
        (check,) = [c for c in run_checks(home, repo) if c.name == "skills"]
        assert check.verdict == "ok", check.detail
