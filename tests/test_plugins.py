"""Plugin loading: built-ins, installed packages (entry points), and repo-local files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from middle.app.plugins import load_plugins
from middle.errors import DuplicateStepError, PluginError, WorkflowError
from tests.conftest import REPO_ROOT, mypy_strict

WORKFLOW_PLUGIN = """
from middle import Workflow, hookimpl, step

@step
def plan(ctx):
    return "plan"

@step
def build(ctx):
    return "build"

@hookimpl
def middle_register_steps(registry):
    registry.add(plan)
    registry.add(build)

@hookimpl
def middle_register_workflows(registry):
    registry.add_workflow(Workflow("ship", ["plan", "build"]))
"""

AUDIT_PLUGIN = """
from middle import hookimpl, step

@step
def audit(ctx):
    return "audited " + ctx.results["plan"]

@hookimpl
def middle_register_steps(registry):
    registry.add(audit)

@hookimpl
def middle_configure_workflow(workflow):
    if workflow.name == "ship":
        workflow.insert_after("plan", "audit")
"""


def write_plugins(repo: Path, **files: str) -> Path:
    folder = repo / ".middle" / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def test_repo_local_plugins_register_and_edit_workflows(tmp_path: Path) -> None:
    folder = write_plugins(tmp_path, a_workflow=WORKFLOW_PLUGIN, b_audit=AUDIT_PLUGIN)

    registry = load_plugins(tmp_path, autoload=False).registry

    assert registry.workflow("ship").names() == ["plan", "audit", "build"]
    assert registry.origins["audit"] == str(folder / "b_audit.py")
    assert registry.workflow_origins["ship"] == str(folder / "a_workflow.py")


def test_a_duplicate_step_name_names_both_origins(tmp_path: Path) -> None:
    folder = write_plugins(tmp_path, one=WORKFLOW_PLUGIN, two=WORKFLOW_PLUGIN)
    with pytest.raises(DuplicateStepError) as caught:
        load_plugins(tmp_path, autoload=False)
    assert str(folder / "one.py") in str(caught.value)
    assert str(folder / "two.py") in str(caught.value)


def test_a_broken_local_plugin_names_its_file(tmp_path: Path) -> None:
    folder = write_plugins(tmp_path, broken="import nonexistent_module_xyz\n")
    with pytest.raises(PluginError, match=f"{folder / 'broken.py'} failed to import"):
        load_plugins(tmp_path, autoload=False)


def test_a_bad_edit_names_the_plugin_the_hook_and_the_steps(tmp_path: Path) -> None:
    write_plugins(
        tmp_path,
        a=WORKFLOW_PLUGIN,
        b="""
        from middle import hookimpl

        @hookimpl
        def middle_configure_workflow(workflow):
            if workflow.name == "ship":
                workflow.insert_after("deploy", "plan")
        """,
    )
    with pytest.raises(WorkflowError, match=r"b\.py \(middle_configure_workflow\).*plan, build"):
        load_plugins(tmp_path, autoload=False)


def test_each_load_builds_a_fresh_registry(tmp_path: Path) -> None:
    write_plugins(tmp_path, a=WORKFLOW_PLUGIN)
    first = load_plugins(tmp_path, autoload=False).registry
    first.workflow("ship").insert_after("build", "plan-b")
    assert load_plugins(tmp_path, autoload=False).registry.workflow("ship").names() == [
        "plan",
        "build",
    ]


ENTRY_POINT_DRIVER = """
import json, subprocess, sys
from middle import Workflow
from middle.app.plugins import load_plugins
from middle.engine import Registry, Runner, step
from middle.store import open_db

loaded = load_plugins().registry
print(json.dumps({"origin": loaded.origins.get("require-changelog")}))
if "require-changelog" not in loaded.steps:
    sys.exit(0)
assert loaded.workflow("implementation").names().index("require-changelog") == (
    loaded.workflow("implementation").names().index("launch-and-drive") + 1
)

worktree = sys.argv[1]

@step("prepare-worktree")
def prepare(ctx):
    return {"worktree": worktree}

registry = Registry()  # the plugin's step, run after a stand-in for the worktree step
registry.add(prepare)
registry.add(loaded.step("require-changelog"))
registry.add_workflow(Workflow("check", ["prepare-worktree", "require-changelog"]))
runner = Runner(open_db(sys.argv[2]), registry, sleep=lambda s: None)
try:
    result = runner.start("check", {"repo": worktree, "base": "main"})
    print(json.dumps({"status": result.status}))
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


def git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin package, built and installed into a private site directory. It
    is built from a copy: pip builds a local directory in place, and setuptools would
    leave `build/` and `*.egg-info` in this repo, shared by every xdist worker."""
    source = tmp_path_factory.mktemp("source") / "middle-changelog"
    shutil.copytree(REPO_ROOT / "plugins" / "middle-changelog", source)
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-index", "--target", str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return site


def run_driver(site: Path, worktree: Path, db: Path, **env: str) -> list[dict[str, str]]:
    result = subprocess.run(
        [sys.executable, "-c", ENTRY_POINT_DRIVER, str(worktree), str(db)],
        env={**os.environ, "PYTHONPATH": str(site), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize(("touch_changelog", "outcome"), [(True, "completed"), (False, "error")])
def test_an_installed_package_is_found_through_its_entry_point_and_runs(
    installed_example: Path, tmp_path: Path, touch_changelog: bool, outcome: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    git(repo, "checkout", "-q", "-b", "middle/issue-1")
    (repo / ("CHANGELOG.md" if touch_changelog else "app.py")).write_text("change\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "work")

    found, ran = run_driver(installed_example, repo, tmp_path / "db.sqlite3")

    assert found == {"origin": "package middle-changelog"}
    if outcome == "completed":
        assert ran == {"status": "completed"}
    else:
        assert ran["error"] == "ChangelogMissing"
        assert "not CHANGELOG.md" in ran["message"]


def test_autoload_off_skips_installed_packages(installed_example: Path, tmp_path: Path) -> None:
    (found,) = run_driver(
        installed_example, tmp_path, tmp_path / "db.sqlite3", MIDDLE_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    assert found == {"origin": None}


def test_the_example_plugin_type_checks_strictly(tmp_path: Path) -> None:
    """A plugin author's hooks type-check without `# type: ignore`, from the names `middle`
    exports. Seen red with the hooks' parameters unannotated (`Function is missing a type
    annotation`), which is why the example carried two `# type: ignore`s before
    `PluginRegistry` was exported."""
    plugin = REPO_ROOT / "plugins" / "middle-changelog" / "middle_changelog.py"
    checked = mypy_strict(plugin, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "type: ignore" not in plugin.read_text()
