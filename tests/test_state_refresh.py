"""The dispatcher's refresh of the state issue between recommender runs, and the
interval setting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from middle.app.home import open_home_db
from middle.app.recommender.refresh import interval_seconds, refresh_dispatcher_sections
from middle.errors import ConfigError
from middle.state_issue import parse
from middle.store import update_workflow
from middle.store.records import create_workflow_record, merge_workflow_meta


@pytest.mark.parametrize(("text", "seconds"), [("off", None), ("15m", 900.0), ("1h30m", 5400.0)])
def test_intervals(text: str, seconds: float | None) -> None:
    assert interval_seconds(text) == seconds


@pytest.mark.parametrize("text", ["15", "soon", "0m", ""])
def test_a_bad_interval_names_the_setting(text: str) -> None:
    with pytest.raises(ConfigError, match=r"\[recommender\] interval"):
        interval_seconds(text)


def test_the_refresh_rewrites_only_the_dispatchers_sections(home: Path, tmp_path: Path) -> None:
    """Seen red: with `render(sections-only state)` instead of the parsed body, the
    recommender's Ready rows and the footer were lost."""
    repo = tmp_path / "repo"
    (repo / ".middle").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    example = (
        Path(__file__).parent / "fixtures" / "state_issue" / "reference-example.md"
    ).read_text()
    (repo / ".middle" / "state.md").write_text(example + "\n\nA footer.\n")
    db = open_home_db()
    create_workflow_record(
        db, id="w1", kind="implementation", repo=str(repo), epic_ref="queue", adapter="command"
    )
    update_workflow(db, "w1", state="running", session_name="middle-repo-queue")
    merge_workflow_meta(db, "w1", {"slot": "held"})

    assert refresh_dispatcher_sections(db, repo) is True
    text = (repo / ".middle" / "state.md").read_text()
    assert text.startswith(example.split("## In-flight")[0])
    assert text.endswith("<!-- /AGENT-QUEUE-STATE -->\n\nA footer.\n")
    state = parse(text)
    (flight,) = state.in_flight
    assert (flight.ref, flight.adapter, flight.session) == ("queue", "command", "middle-repo-queue")
    assert state.slots.total == (1, 3) and ("command", 1, 3) in state.slots.adapters
    # v1's three lines; file mode spends no GitHub quota
    assert [(r.name, r.status) for r in state.rate_limits] == [
        ("claude", "AVAILABLE"),
        ("codex", "AVAILABLE"),
        ("github", "UNKNOWN"),
    ]


def test_a_state_file_that_is_not_utf8_is_one_line_naming_the_byte(tmp_path: Path) -> None:
    """`.middle/state.md` saved in another encoding is a `StateIssueError` that names the
    file and the offset, as a config or an Epic file is. Seen red: a UnicodeDecodeError
    traceback."""
    from middle.errors import StateIssueError
    from middle.issues.state_location import StateFile, current_state

    (tmp_path / ".middle").mkdir()
    (tmp_path / ".middle" / "state.md").write_bytes(b"# plan\ncaf\xe9\n")
    with pytest.raises(
        StateIssueError, match=r"state\.md is not UTF-8 text: byte 0xe9 at offset 10"
    ):
        current_state(StateFile(tmp_path))
