"""The CLI as a user meets it: list, status, doctor, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from middle.store import LATEST_VERSION, create_workflow_record, open_db
from tests.conftest import REPO_ROOT, run_middle


def listed_tasks(output: str) -> list[str]:
    """Task names from `--list`: two-space indented; wrapped help lines are indented more."""
    return sorted(
        line.split()[0]
        for line in output.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    )


def test_middle_and_invoke_list_the_same_middle_tasks(home: Path) -> None:
    """`invoke` at the repo root shows middle's tasks plus this repo's own `dev.*` tasks."""
    middle = run_middle("--list")
    invoke = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    ours = listed_tasks(middle.stdout)
    assert {"status", "doctor"} <= set(ours)
    theirs = listed_tasks(invoke.stdout)
    assert [name for name in theirs if not name.startswith("dev.")] == ours


def test_status_says_plainly_when_there_are_no_workflows(home: Path) -> None:
    result = run_middle("status")
    assert result.returncode == 0
    assert "No workflows yet" in result.stdout
    assert json.loads(run_middle("status", "--json").stdout) == []


def test_status_outside_a_repository_shows_no_api_quota(home: Path, tmp_path: Path) -> None:
    """Seen red: outside a git checkout, status printed "GitHub API quota: unknown (... is
    not a git repository ...)", as if a GitHub-mode repo had failed to answer."""
    result = run_middle("status", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "API quota" not in result.stdout


def test_status_lists_a_workflow_as_a_table_and_as_json(home: Path) -> None:
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo="/src/app", epic_ref="108", adapter="claude"
    )
    table = run_middle("status")
    assert "108" in table.stdout and "pending" in table.stdout
    (row,) = json.loads(run_middle("status", "--json").stdout)
    assert (row["id"], row["ref"], row["state"]) == ("wf-1", "108", "pending")


def test_doctor_passes_on_a_healthy_machine(home: Path) -> None:
    result = run_middle("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("python", "git", "tmux", "home", "database"):
        assert f"✓ {name}:" in result.stdout
    assert f"schema v{LATEST_VERSION}, integrity ok" in result.stdout


def test_doctor_fails_on_a_broken_config_and_says_which_check(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[global\n")
    result = run_middle("doctor")
    assert result.returncode == 1
    assert "✗ config:" in result.stdout and "not valid TOML" in result.stdout
    assert result.stderr.strip() == "middle doctor: 1 check(s) failed: config"


def test_a_user_error_is_one_line_and_exit_1_never_a_traceback(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "db.sqlite3").write_bytes(b"not a database" * 200)
    result = run_middle("status")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("middle: the database") and "middle doctor" in line
    assert "✗ database:" in run_middle("doctor").stdout


LOCAL_PLUGIN = """
from tenacity import stop_after_attempt
from middle import Workflow, hookimpl, step

def forget(ctx):
    pass

@step(stop=stop_after_attempt(1), compensate=forget)
def remember(ctx):
    return "ok"

@hookimpl
def middle_register_steps(registry):
    registry.add(remember)

@hookimpl
def middle_register_workflows(registry):
    registry.add_workflow(Workflow("memo", ["remember"]))
"""


def test_steps_lists_policy_compensation_origin_and_order(home: Path, tmp_path: Path) -> None:
    plugin = tmp_path / "repo" / ".middle" / "plugins" / "memo.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(LOCAL_PLUGIN)

    result = run_middle("steps", "--repo", str(tmp_path / "repo"), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "remember" in result.stdout and "1 attempt, no retry" in result.stdout
    assert "prepare-worktree" in result.stdout and "built-in" in result.stdout
    described = json.loads(run_middle("steps", "--repo", str(tmp_path / "repo"), "--json").stdout)
    assert [s for s in described["steps"] if s["name"] == "remember"] == [
        {
            "name": "remember",
            "policy": "1 attempt, no retry",
            "compensation": "forget",
            "origin": str(plugin),
        }
    ]
    assert described["workflows"]["memo"]["order"] == ["remember"]


def test_steps_with_a_missing_repo_is_one_line(home: Path, tmp_path: Path) -> None:
    result = run_middle("steps", "--repo", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"middle: --repo {tmp_path / 'nope'}: no such directory"


def test_bench_prints_json_beside_its_baseline(home: Path) -> None:
    result = run_middle("bench", "--workflows", "30")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["commits_per_workflow"] >= 1
    assert report["middle"]["median_ms"] > 0 and report["raw_sqlite_floor"]["median_ms"] > 0
    assert set(report) >= {"ratio_median", "meets_target", "target"}


def test_init_sets_a_repo_up_once(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("node_modules/")  # no trailing newline

    # --force: the uncommitted .gitignore makes the tree dirty (issue 21 item 4)
    first = run_middle("init", "--force", "--repo", str(repo))
    second = run_middle("init", "--repo", str(repo))

    assert first.returncode == 0, first.stderr
    assert "wrote .middle/policy.toml" in first.stdout
    assert second.stdout.strip() == "Already set up; nothing changed."
    ignored = (repo / ".gitignore").read_text().splitlines()
    assert ignored[0] == "node_modules/" and ".middle/prompt.md" in ignored
    assert (repo / "planning" / "epics" / "README.md").exists()


def test_init_outside_a_repository_is_refused(home: Path, tmp_path: Path) -> None:
    result = run_middle("init", "--repo", str(tmp_path))
    assert result.returncode == 1 and "is not a git repository" in result.stderr


def test_doctor_checks_a_repos_epics_and_names_the_broken_line(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "planning" / "epics").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "planning" / "epics" / "bad.md").write_text("<!-- middle:epic v1 -->\n# T\n")

    result = run_middle("doctor", "--repo", str(repo))

    assert result.returncode == 1
    assert "✗ epics:" in result.stdout and "bad.md: line 3: expected the" in result.stdout
    assert "! agent claude:" in result.stdout or "✓ agent claude:" in result.stdout


def test_task_help_works_after_the_task_name(home: Path) -> None:
    """Seen red: with --issue declared required, invoke took `--help` as the issue ref."""
    result = run_middle("implement", "--help")
    assert result.returncode == 0 and "--issue=STRING" in result.stdout
    missing = run_middle("implement")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "middle: --issue is required; see: middle implement --help"


def test_status_shows_the_kind_of_a_run_with_no_issue(home: Path) -> None:
    """A recommender or documentation run has no issue ref; status names its kind there,
    as the dashboard does. Seen red: the ref column showed `-` for both runs."""
    db = open_db(home / "db.sqlite3")
    for id_, kind in (("wf-r", "recommender"), ("wf-d", "documentation")):
        create_workflow_record(
            db, id=id_, kind=kind, repo="/src/app", epic_ref=None, adapter="claude"
        )
    rows = [
        line.split() for line in run_middle("status", env={"COLUMNS": "120"}).stdout.splitlines()
    ]
    refs = [cells[1] for cells in rows if cells and cells[0] == "app"]
    assert refs == ["(recommender)", "(documentation)"]
    listed = json.loads(run_middle("status", "--json").stdout)
    assert [row["ref"] for row in listed] == [None, None]  # the JSON keeps the plain column


def test_piped_steps_and_status_are_never_cut_and_status_names_the_repo(
    home: Path, tmp_path: Path
) -> None:
    """Issue 11 item 19. Seen red: a piped `middle steps` at COLUMNS=80 folded the origin
    path, and status had no repo column."""
    steps = run_middle("steps", "--repo", str(REPO_ROOT), env={"COLUMNS": "80"})
    origin = json.loads(run_middle("steps", "--json", "--repo", str(REPO_ROOT)).stdout)
    assert origin["steps"][0]["origin"] in steps.stdout
    repo = tmp_path / "a-repository-with-a-rather-long-folder-name-for-the-test"
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo=str(repo), epic_ref="108", adapter="claude"
    )
    status = run_middle("status", env={"COLUMNS": "80"})
    assert "repo" in status.stdout.splitlines()[1] and repo.name in status.stdout


def test_middle_help_leads_with_middles_commands_and_options(home: Path) -> None:
    """Issue 11 item 18. Seen red: `middle --help` opened with invoke's core options."""
    text = run_middle("--help").stdout
    assert text.index("Run an issue:") < text.index("implement") < text.index("--echo")
    assert text.index("Options:") < text.index("Invoke's options") < text.index("--echo")


def shown_groups(text: str) -> dict[str, list[str]]:
    """`middle --help`'s command groups: a heading ends in ":" at the margin, its
    commands follow two-space indented (wrapped help lines are indented more)."""
    groups: dict[str, list[str]] = {}
    for line in text[: text.index("Options:")].splitlines()[2:]:
        if line.endswith(":") and not line.startswith(" "):
            heading = groups.setdefault(line[:-1], [])
        elif line.startswith("  ") and not line.startswith("   "):
            heading.append(line.split()[0])
    return groups


def test_help_groups_every_command_by_what_a_user_is_doing(home: Path) -> None:
    """Issue 21: `--help` groups the commands by what a user is doing (run, watch,
    configure, CI, ...), from the one table `middle.cli.tasks.GROUPS`, which `ns` is made
    from: every command is in exactly one group, and none is left for "Other". Seen red
    with the flat "Commands:" list."""
    from middle.cli.tasks import GROUPS, ns

    groups = shown_groups(run_middle("--help").stdout)
    assert {"Run an issue", "Watch", "Configure", "CI", "Verify"} <= set(groups)
    assert list(groups)[:2] == ["Run an issue", "Watch"]
    assert "implement" in groups["Run an issue"] and "status" in groups["Watch"]
    assert "init" in groups["Configure"] and "ci-job" in groups["CI"]
    listed = [name for names in groups.values() for name in names]
    assert sorted(listed) == sorted(ns.task_names)  # each once
    assert "Other" not in groups
    assert [len(tasks) for tasks in GROUPS.values()] == [len(names) for names in groups.values()]


def test_a_command_named_only_as_helps_value_still_has_its_help(home: Path) -> None:
    """The parser knows only the commands the command line names (so `--help` and
    `status` build one parser context, not 31). Seen red with the names taken from what
    remains after the core flags: `middle --help implement` said "No idea what
    'implement' is!"."""
    for argv in (["--help", "implement"], ["--help=implement"], ["implement", "--help"]):
        shown = run_middle(*argv)
        assert shown.returncode == 0 and "--issue=STRING" in shown.stdout, (argv, shown.stderr)
    unknown = run_middle("implemen")
    assert unknown.returncode == 1 and "No idea what 'implemen' is!" in unknown.stderr
    script = Path(sys.executable).parent / "middle"  # completion reads the script's name
    argv = [str(script), "--complete", "--", "middle", "implement", "--is"]
    completed = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert "--issue" in completed.split()


def test_no_command_has_a_short_flag_that_means_something_else_to_invoke(home: Path) -> None:
    """Issue 11 item 18. Seen red: `-e` was `--echo` before a command and
    `--request-changes` after `review` (and `-f`, `-p`, `-w` clashed likewise)."""
    from middle.cli.tasks import ns

    core = {"-d", "-D", "-e", "-f", "-F", "-h", "-l", "-p", "-R", "-T", "-V", "-w"}
    for name in ns.task_names:
        shown = run_middle(name, "--help").stdout
        clashing = [flag for flag in core if f"  {flag} " in shown or f", {flag}" in shown]
        assert not clashing, (name, clashing)


def test_the_status_table_reads_at_80_columns() -> None:
    """Issue 11 item 19. Seen red: at 80 columns the table (eight columns, and a first
    six-column fix) folded the ref and the repo into slivers; they now stay whole."""
    import io

    from rich.console import Console

    from middle.cli.tasks import _status_table

    summary = {
        "repo": "/home/me/src/webhooks-service", "ref": "retry-webhooks",
        "state": "waiting-human", "step": "wait-for-resume", "age_seconds": 120,
        "last_event": "workflow.parked", "end_reason": None, "resumed_by": "answer by @dana",
        "pr_url": "https://github.com/acme/webhooks/pull/200", "queued": None,
    }  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80).print(_status_table([summary]))
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    for whole in ("waiting-human", "retry-webhooks", "webhooks-service"):
        assert any(whole in line for line in lines), whole


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    """`middle --help | head -3`, as people read a long help: here a reader already gone,
    so every write fails as the late ones do then. Seen red: a BrokenPipeError traceback
    on stderr."""
    import os
    import shutil

    middle = shutil.which("middle", path=str(Path(sys.executable).parent))
    assert middle is not None
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [middle, "--help"], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_the_console_prints_emoji_codes_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """What an agent said reaches the person as it said it: `:x:` stays `:x:` (and rich's
    table of emoji codes is never loaded, a cost `status` paid at every start). Seen red:
    the console printed ❌."""
    from middle.cli.helpers import console

    console().print("the agent last said: done :x: :thumbs_up:")
    assert capsys.readouterr().out.strip() == "the agent last said: done :x: :thumbs_up:"
