"""A fault of the disk under the store is one line naming its cause, never a traceback,
and `doctor` finds it (issue 20 item 19): a damaged page, a read-only home or database,
a full disk before launch (which leaves the run for `middle resume`, as the line says).

The faults are real: a page of the real file overwritten, real modes enforced by the
kernel (as root, the commands run without the capabilities that ignore modes), and a full
disk as SQLite's own SQLITE_FULL (`PRAGMA max_page_count`, as tests/test_disk_full.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from middle.store import create_workflow_record, open_db, record_event
from tests.conftest import run_middle
from tests.e2e.conftest import REF, Sandbox, git

NO_ROOT_POWERS = "-dac_override,-dac_read_search,-fowner"


def run_unprivileged(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`middle ARGS` as a user whom file modes bind: root keeps its uid but loses the
    capabilities that override modes (what `sudo middle` once, then `middle`, amounts to)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: modes cannot be enforced")
        prefix = ["setpriv", "--inh-caps=-all", f"--bounding-set={NO_ROOT_POWERS}", "--"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "middle", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    return line


def a_home_with_runs(home: Path) -> Path:
    db = open_db(home / "db.sqlite3")
    for n in range(40):
        create_workflow_record(
            db, id=f"wf-{n}", kind="implementation", repo="/r", epic_ref=str(n), adapter="command"
        )
        for _ in range(5):
            record_event(db, f"wf-{n}", "note", {"text": "x" * 300})
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return home / "db.sqlite3"


def test_a_damaged_page_is_a_failed_check_and_a_one_line_error(home: Path) -> None:
    """Seen red: doctor itself died with a DatabaseError traceback in integrity_check,
    and `status` printed one too."""
    path = a_home_with_runs(home)
    pages = path.stat().st_size // 4096
    with path.open("r+b") as handle:  # a page of the events table, past the schema
        handle.seek((pages - 2) * 4096)
        handle.write(b"\xff" * 4096)

    doctor = run_middle("doctor")
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor.stderr
    assert "✗ database:" in doctor.stdout and "malformed" in doctor.stdout
    assert doctor.stderr.strip() == "middle doctor: 1 check(s) failed: database"
    line = one_line(run_middle("status"))
    assert "cannot be read" in line and "middle doctor" in line


def test_a_read_only_database_is_one_line_on_write_and_fails_doctor(
    home: Path, tmp_path: Path
) -> None:
    """A database file this user may not write (left by `sudo middle`, say) opens and
    reads fine, then failed every write. Seen red: `pause` printed an OperationalError
    traceback ("attempt to write a readonly database") and doctor said ✓ database."""
    path = a_home_with_runs(home)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    os.chmod(path, 0o400)

    line = one_line(run_unprivileged("pause", "--repo", str(repo)))
    assert f"middle cannot write {path}" in line and "not writable by you" in line
    assert "mode 400" in line

    doctor = run_unprivileged("doctor")
    assert "✗ database: middle cannot write it:" in doctor.stdout, doctor.stdout
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr


def test_a_read_only_home_fails_doctor_and_is_one_line(home: Path) -> None:
    """Seen red: doctor passed the home ("✓ home") though nothing could be written in it."""
    a_home_with_runs(home)
    os.chmod(home, 0o500)
    try:
        doctor = run_unprivileged("doctor")
        assert "✗ home: middle cannot write its home:" in doctor.stdout, doctor.stdout
        assert f"{home} is not writable by you" in doctor.stdout
        assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
        line = one_line(run_unprivileged("status"))
        assert f"{home} is not writable by you" in line
    finally:
        os.chmod(home, 0o700)


FILL_THE_DISK = """
from pathlib import Path
from middle import hookimpl, step

@step
def fill_the_disk(ctx):
    # The disk fills as the run gets ready to launch: the next page SQLite needs fails.
    if Path(ctx.input["repo"], "disk-is-full").exists():
        pages = ctx.db.execute("PRAGMA page_count").fetchone()[0]
        ctx.db.execute(f"PRAGMA max_page_count = {pages}")
        ctx.record_event("padding", {"text": "x" * 12000})
    return "ok"

@hookimpl
def middle_register_steps(registry):
    registry.add(fill_the_disk)

@hookimpl
def middle_configure_workflow(workflow):
    if workflow.name == "implementation":
        workflow.insert_before("launch-and-drive", "fill-the-disk")
"""


def test_a_full_disk_before_launch_leaves_the_run_for_resume(sandbox: Sandbox) -> None:
    """Seen red: the run ended `failed` while the line said `middle resume` continues
    it, and resume found nothing to continue."""
    plugin = sandbox.repo / ".middle" / "plugins" / "fill.py"
    plugin.parent.mkdir()
    plugin.write_text(FILL_THE_DISK)
    git(sandbox.repo, "add", "-A")
    git(sandbox.repo, "commit", "-q", "-m", "a plugin that fills the disk")
    full = sandbox.repo / "disk-is-full"
    full.touch()
    sandbox.script({"do": "done"})

    line = one_line(sandbox.middle("implement", "--issue", REF, "--agent", "command"))
    assert "is full" in line and "middle resume" in line
    assert sandbox.workflow()["state"] not in ("failed", "compensated")
    assert sandbox.agent_log("launch") == []

    full.unlink()  # space freed
    resumed = sandbox.middle("resume", "--issue", REF)
    assert resumed.returncode == 0, resumed.stderr
    assert "ready for review" in resumed.stdout
    assert len(sandbox.agent_log("launch")) == 1
