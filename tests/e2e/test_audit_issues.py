"""`middle audit-issues` in file mode and on a draft body, through the real `middle` CLI.
GitHub mode (the gh fake, `--label`) is in test_github.py.

Seen red: before the command existed, `middle audit-issues` was "No idea what
'audit-issues' is!" with exit 1, so every assertion on its table, JSON and codes failed."""

from __future__ import annotations

import json
from pathlib import Path

from middle.issues.epic_blocks import render_new_epic
from tests.e2e.conftest import Sandbox, git

GATES = '[[gate]]\nname = "lint"\ncommand = "ruff check ."\n'


def write_epic(sandbox: Sandbox, slug: str, criteria: list[str]) -> Path:
    path = sandbox.repo / "planning" / "epics" / f"{slug}.md"
    path.write_text(
        render_new_epic(
            title="Search",
            slug=slug,
            context="Find things.",
            criteria=criteria,
            sub_issues=[("1", "Index", "Build the index.")],
        )
    )
    (sandbox.repo / ".middle" / "verify.toml").write_text(GATES)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", slug)
    return path


def test_file_mode_flags_vague_and_unmeasured_criteria(sandbox: Sandbox) -> None:
    write_epic(
        sandbox,
        "search",
        [
            "Search is fast",
            "The results page is user-friendly",
            "The lint gate passes",
            "`middle search foo` prints matches; an e2e test drives the CLI",
        ],
    )
    shown = sandbox.middle("audit-issues", "--issue", "search")
    assert shown.returncode == 1, shown.stderr
    lines = shown.stdout.splitlines()
    row = next(line for line in lines if "Search is fast" in line)
    assert "flagged" in row and "unmeasured" in row
    row = next(line for line in lines if "user-friendly" in line)
    assert "flagged" in row and "vague" in row
    row = next(line for line in lines if "The lint gate passes" in line)
    assert "ok" in row and "gate lint" in row  # the gate from .middle/verify.toml
    assert "4 criteria: 2 ok, 2 flagged" in shown.stdout

    as_json = json.loads(sandbox.middle("audit-issues", "--issue", "search", "--json").stdout)
    assert [item["ok"] for item in as_json] == [False, False, True, True]
    assert as_json[0]["flags"][0]["rule"] == "unmeasured"


def test_file_mode_exits_0_when_nothing_is_flagged(sandbox: Sandbox) -> None:
    write_epic(sandbox, "clean", ["`middle search foo` prints matches; an e2e test drives the CLI"])
    shown = sandbox.middle("audit-issues", "--issue", "clean")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "1 criteria: 1 ok, 0 flagged" in shown.stdout


def test_file_mode_label_is_refused_with_what_to_do(sandbox: Sandbox) -> None:
    path = write_epic(sandbox, "vague", ["It works well"])
    before = path.read_text()
    shown = sandbox.middle("audit-issues", "--issue", "vague", "--label")
    assert shown.returncode == 1
    assert "labels: [needs-design]" in shown.stderr
    assert path.read_text() == before  # nothing written


def test_a_body_file_needs_no_repo(sandbox: Sandbox, tmp_path: Path) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text("# Draft\n\n## Acceptance criteria\n\n- [ ] Search is fast\n")
    shown = sandbox.middle("audit-issues", "--body-file", str(draft), "--repo", str(tmp_path))
    assert shown.returncode == 1, shown.stderr
    assert "unmeasured" in shown.stdout and "no-integration" in shown.stdout


def test_bad_input_is_one_line(sandbox: Sandbox, tmp_path: Path) -> None:
    for args, said in [
        (["--issue", "../x"], "--issue"),
        (["--issue", "no-such-epic"], "no-such-epic"),
        (["--body-file", str(tmp_path / "missing.md")], "missing.md"),
        ([], "--issue REF or --body-file"),
        (["--body-file", str(tmp_path / "x.md"), "--label"], "--label needs --issue"),
    ]:
        shown = sandbox.middle("audit-issues", *args)
        assert shown.returncode == 1, args
        assert len(shown.stderr.strip().splitlines()) == 1 and said in shown.stderr, shown.stderr
        assert "Traceback" not in shown.stderr
