"""Issue 24 item 2: `middle status` and `middle --help` start without the heavy modules.

The real CLI runs in a subprocess through a tiny wrapper that prints `sys.modules` at exit.
Seen red: before the store's lazy face and its plain-sqlite3 read path, `status` loaded
sqlite_utils and tenacity (through `open_home_db`) even for a home with one ended run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from middle.store import create_workflow_record, open_db, transition_workflow

# What neither command may load: the writers' library and its retry controller, the
# plugin manager, and the dashboard's web stack.
FORBIDDEN = (
    "sqlite_utils",
    "tenacity",
    "pluggy",
    "starlette",
    "uvicorn",
    "jinja2",
    "sse_starlette",
)

# What invoke's package imports at its top but no middle command uses (middle.cli.lean_invoke).
INVOKE_UNUSED = ("unittest.mock", "asyncio", "importlib.metadata", "email", "invoke.vendor.yaml")

WRAPPER = """
import json, runpy, sys
sys.argv = ["middle", *sys.argv[1:]]
try:
    runpy.run_module("middle", run_name="__main__")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_after(args: list[str], cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args], cwd=cwd, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def test_status_and_help_keep_the_heavy_modules_out(home: Path, tmp_path: Path) -> None:
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo="/src/app", epic_ref="108", adapter="claude"
    )
    transition_workflow(db, "wf-1", "completed", leaving="pending")
    status = loaded_after(["status"], tmp_path)
    assert "middle.app.status" in status  # the command ran
    assert [m for m in FORBIDDEN if m in status] == []
    assert [m for m in INVOKE_UNUSED if m in status] == []
    assert "middle.checks" not in status  # seen red: the config imported it for a chmod
    shown = loaded_after(["--help"], tmp_path)
    heavy = (*FORBIDDEN, *INVOKE_UNUSED, "rich", "middle.app", "middle.store", "sqlite3")
    assert [m for m in heavy if m in shown] == []


def test_the_parts_of_invoke_middle_defers_still_work_when_asked_for(tmp_path: Path) -> None:
    """Seen red first as the guard above: `middle --help` loaded unittest.mock, asyncio,
    importlib.metadata and invoke's YAML (~30 ms, 1.5 Python starts). Deferred, each still
    answers: invoke's version, a `MockContext`, and a YAML config file of invoke's. Run in
    a subprocess, since this one imported invoke whole (through pytest's plugins)."""
    probe = """
import sys
import middle.cli
import invoke
deferred = [m for m in ("unittest.mock", "importlib.metadata", "invoke.vendor.yaml")
            if m in sys.modules]
from importlib import metadata
from unittest.mock import Mock
ctx = invoke.MockContext(run={"ls": invoke.Result("a")})
assert ctx.run("ls").stdout == "a" and ctx.run.call_count == 1
assert isinstance(ctx.run, Mock) and invoke.context.Mock is Mock
assert invoke.__version__ == metadata.version("invoke"), invoke.__version__
config = invoke.Config(runtime_path=sys.argv[1])
config.load_runtime()
assert config.shout == "hi", dict(config)
print(deferred)
"""
    path = tmp_path / "invoke.yaml"
    path.write_text("shout: hi\n")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_status_in_a_repository_keeps_the_engine_out(home: Path, tmp_path: Path) -> None:
    """Inside a file-mode repository `status` opens a `Runtime` for the repo's issue
    store, which needs no engine: the run rows are read through the plain path. Seen red:
    runtime.py imported `Runs` at the top, and with it the engine, sqlite-utils and
    tenacity."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="wf-1", kind="implementation", repo=str(repo), epic_ref="retry", adapter="claude"
    )
    transition_workflow(db, "wf-1", "completed", leaving="pending")
    status = loaded_after(["status"], repo)
    assert "middle.app.status" in status
    # Seen red for pluggy (2-3 ms): the issues package marked its built-in stores' hook
    # with it; they now register from middle.app.plugins.
    assert [m for m in (*FORBIDDEN, "middle.engine") if m in status] == []
    # Issue 24 item 2, seen red: the GitHub store (and the verify gates under it) and the
    # state issue loaded in a file-mode repo, and hmac and rich's emoji codes everywhere;
    # and the poll's records (five frozen dataclasses, 2.5 ms), in middle.issues.base.
    elsewhere = (
        "middle.checks",  # doctor's verdicts: seen red, the config loaded them for a chmod
        "middle.issues.github_store",
        "middle.issues.polling",
        "middle.state_issue",
        "middle.verify",
    )
    unused = (*elsewhere, "secrets", "hmac", "tempfile", "rich._emoji_codes")
    assert "middle.issues.file_store" in status
    assert [m for m in unused if m in status] == []


def test_status_in_a_repository_starts_no_git(home: Path, tmp_path: Path) -> None:
    """`status` finds its repository by looking for `.git`, as git does, without starting
    git (a process of its own, a tenth of the command's start-up). A `git` first on PATH
    writes down every call. Seen red: `git rev-parse --show-toplevel` ran once."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "sub").mkdir()
    # a policy only this repository has, so the output shows status found it
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text('[epic_store]\nmode = "elsewhere"\n')
    calls, bin_dir = tmp_path / "git-calls", tmp_path / "bin"
    bin_dir.mkdir()
    real_git = shutil.which("git")
    (bin_dir / "git").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {real_git} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, "-m", "middle", "status"],
        cwd=repo / "sub", env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "(elsewhere mode)" in done.stdout
    assert not calls.exists(), calls.read_text()
