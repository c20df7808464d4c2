"""git's diff, parsed (`middle/system/diff.py`) from the output of a real `git diff` over a
real repository (`middle/system/branch_diff.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from middle.errors import GitError
from middle.system.branch_diff import branch_diff, diff_between, file_lines
from middle.system.diff import changed_old_lines, parse_diff, unquote
from tests.e2e.conftest import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "keep.py").write_text("".join(f"line {n}\n" for n in range(1, 41)))
    (repo / "gone.txt").write_text("bye\n")
    (repo / "moved.txt").write_text("".join(f"same {n}\n" for n in range(20)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "middle/issue-x")
    return repo


def commit(repo: Path, message: str = "work") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_a_branch_diff_numbers_every_line_on_both_sides(repo: Path) -> None:
    lines = (repo / "keep.py").read_text().splitlines()
    lines[9] = "line 10, changed"  # line 10
    lines.insert(30, "inserted after 30")
    (repo / "keep.py").write_text("\n".join(lines) + "\n")
    (repo / "gone.txt").unlink()
    (repo / "new file.md").write_text("<script>alert(1)</script>\n")
    (repo / "blob.bin").write_bytes(bytes(range(256)))
    git(repo, "mv", "moved.txt", "renamed.txt")
    head = commit(repo)
    git(repo, "checkout", "-q", "main")
    (repo / "main-only.txt").write_text("not on the branch\n")
    commit(repo, "main moves on")

    diff = branch_diff(repo, "main", "middle/issue-x")
    assert diff.head == head
    files = {f.path: f for f in parse_diff(diff.text)}
    assert "main-only.txt" not in files  # against the merge base, not main's tip
    assert files["gone.txt"].status == "deleted" and files["gone.txt"].deletions == 1
    assert files["new file.md"].status == "added"
    assert files["new file.md"].hunks[0].lines[0].text == "<script>alert(1)</script>"
    assert files["blob.bin"].binary and files["blob.bin"].hunks == []
    assert files["renamed.txt"].status == "renamed"
    assert files["renamed.txt"].old_path == "moved.txt"
    keep = files["keep.py"]
    assert (keep.additions, keep.deletions) == (2, 1)
    changed = [line for hunk in keep.hunks for line in hunk.lines if line.kind != "ctx"]
    assert [(c.kind, c.old, c.new, c.text) for c in changed] == [
        ("del", 10, None, "line 10"),
        ("add", None, 10, "line 10, changed"),
        ("add", None, 31, "inserted after 30"),
    ]
    context = [line for line in keep.hunks[0].lines if line.kind == "ctx"]
    assert context[0].old == context[0].new  # context before the first change


def test_a_deleted_line_that_looks_like_a_header_stays_a_line() -> None:
    text = (
        "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n"
        "--- not a header\n+++ not one either\n ctx\n"
    )
    (diff,) = parse_diff(text)
    assert [(line.kind, line.text) for line in diff.hunks[0].lines] == [
        ("del", "-- not a header"),
        ("add", "++ not one either"),
        ("ctx", "ctx"),
    ]


def test_a_huge_file_keeps_its_counts_but_not_its_lines(repo: Path) -> None:
    (repo / "big.txt").write_text("".join(f"{n}\n" for n in range(5000)))
    commit(repo)
    (diff,) = [
        f for f in parse_diff(branch_diff(repo, "main", "middle/issue-x").text, 1000)
        if f.path == "big.txt"
    ]  # fmt: skip
    assert diff.too_large and diff.hunks == [] and diff.additions == 5000


def test_quoted_paths_are_unquoted() -> None:
    assert unquote('"tab\\there\\303\\251"') == "tab\there\u00e9"
    text = 'diff --git "a/a\\"b" "b/a\\"b"\nnew file mode 100644\n--- /dev/null\n+++ "b/a\\"b"\n'
    (diff,) = parse_diff(text + "@@ -0,0 +1 @@\n+x\n")
    assert diff.path == 'a"b' and diff.additions == 1


def test_changed_old_lines_says_which_lines_a_later_commit_touched(repo: Path) -> None:
    first = commit(repo, "nothing")
    lines = (repo / "keep.py").read_text().splitlines()
    lines[4] = "line 5 rewritten"
    lines.insert(20, "a new line after 20")
    (repo / "keep.py").write_text("\n".join(lines) + "\n")
    second = commit(repo)
    changed = changed_old_lines(parse_diff(diff_between(repo, first, second, "keep.py")), "keep.py")
    assert changed == {5}  # a pure insertion changes no old line
    (repo / "keep.py").unlink()
    third = commit(repo)
    gone = parse_diff(diff_between(repo, second, third, "keep.py"))
    assert changed_old_lines(gone, "keep.py") is None


def test_file_lines_reads_a_commit_and_refuses_a_missing_file(repo: Path) -> None:
    head = commit(repo, "nothing")
    assert file_lines(repo, head, "keep.py")[2] == "line 3"
    with pytest.raises(GitError):
        file_lines(repo, head, "nope.py")
