"""`middle init --ci`: the Actions workflow, written once, upgraded while untouched, never
clobbered once edited, and clean under GitHub's schema and zizmor's audit (both offline).

Seen red: with `write_workflow` skipping the hash check (always rewriting), the edited
file is overwritten; with `persist-credentials: false` removed from the template, zizmor
reports the medium `artipacked` finding; with `issue_comment`'s ignore dropped, it
reports the high `dangerous-triggers` one.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from middle import __version__
from middle.app.ci.workflow import (
    DISTRIBUTION,
    WORKFLOW_PATH,
    body,
    digest,
    install_requirement,
    render,
    write_workflow,
)
from middle.errors import ConfigError
from tests.conftest import REPO_ROOT, run_middle
from tests.e2e.conftest import git


@pytest.fixture
def repo(tmp_path: Path, home: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "remote", "add", "origin", "https://github.com/acme/webhooks.git")
    return path


def test_written_once_then_nothing_changes(repo: Path) -> None:
    assert write_workflow(repo) == f"wrote {WORKFLOW_PATH}"
    assert write_workflow(repo) is None
    assert (repo / WORKFLOW_PATH).read_text() == render()


def test_a_file_the_user_changed_is_left_alone(repo: Path) -> None:
    write_workflow(repo)
    path = repo / WORKFLOW_PATH
    edited = path.read_text().replace("timeout-minutes: 360", "timeout-minutes: 90")
    path.write_text(edited)
    assert "changed by hand" in str(write_workflow(repo))
    assert path.read_text() == edited


def test_an_untouched_older_file_is_upgraded(repo: Path) -> None:
    old_body = body(install_requirement()).replace("23 * * * *", "0 * * * *")
    path = repo / WORKFLOW_PATH
    path.parent.mkdir(parents=True)
    path.write_text(
        f"# middle init --ci wrote this file (sha256 {digest(old_body)}).\n# x\n{old_body}"
    )
    assert write_workflow(repo) == f"upgraded {WORKFLOW_PATH}"
    assert path.read_text() == render()


def test_the_workflow_has_the_contracted_shape() -> None:
    workflow = YAML(typ="safe").load(render())
    triggers = workflow["on"]
    assert set(triggers) == {
        "issues", "issue_comment", "pull_request_review", "workflow_dispatch", "schedule"
    }  # fmt: skip
    assert "pull_request_target" not in render()
    assert workflow["permissions"] == {}
    job = workflow["jobs"]["issue"]
    assert job["concurrency"] == {
        "group": "middle-issue-${{ needs.route.outputs.issue }}",
        "cancel-in-progress": False,
    }
    assert job["permissions"] == {
        "contents": "write", "issues": "write", "pull-requests": "write"
    }  # fmt: skip
    for name, job in workflow["jobs"].items():
        checkout = job["steps"][0]
        assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}", name
        assert checkout["with"]["persist-credentials"] is False, name
        for step in job["steps"]:
            run = step.get("run", "")
            assert "${{" not in run, (name, run)  # no expression ever reaches a shell
            if run.startswith("middle ") or f"pip install {DISTRIBUTION}==" in run:
                continue
            assert run == "" or "install" in run, (name, run)  # tools only, no logic
    assert "@anthropic-ai/claude-code@2." in render()  # the agent CLI, pinned


def test_init_ci_writes_it_through_the_cli(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--ci` implies GitHub mode, so the labels are made too (through the fake gh)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_gh = REPO_ROOT / "tests" / "fakes" / "gh_fake.py"
    (bin_dir / "gh").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake_gh}" "$@"\n')
    (bin_dir / "gh").chmod(0o755)
    state = tmp_path / "github.json"
    state.write_text(json.dumps({"login": "me", "repo": "acme/webhooks", "issues": {}, "prs": []}))
    monkeypatch.setenv("FAKE_GH_STATE", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = run_middle("init", "--ci", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert f"wrote {WORKFLOW_PATH}" in done.stdout
    again = run_middle("init", "--ci", cwd=repo)
    assert again.returncode == 0 and str(WORKFLOW_PATH) not in again.stdout
    assert "approved" in json.loads(state.read_text())["labels"]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed; it is in the test extra: pip install -e '.[test]'")
    return found


def test_github_schema_accepts_it(repo: Path) -> None:
    write_workflow(repo)
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
         str(repo / WORKFLOW_PATH)], capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing_medium_or_high(repo: Path) -> None:
    write_workflow(repo)
    done = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", str(repo / WORKFLOW_PATH)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# -- issue 20 item 1: what each job installs ------------------------------------------------


def run_steps(job: dict[str, object]) -> list[str]:
    return [str(step.get("run", "")) for step in job["steps"]]  # type: ignore[attr-defined]


def test_each_job_installs_exactly_this_project_at_this_version() -> None:
    """Seen red: every job ran `pip install "middle==0.1.0"`, which is vltr/middle on PyPI
    (no `middle` command), so the first job failed with "command not found"."""
    workflow = YAML(typ="safe").load(render())
    for name, job in workflow["jobs"].items():
        installs = [run for run in run_steps(job) if "pip install" in run]
        assert installs == [f"python -m pip install {DISTRIBUTION}=={__version__}"], name


def test_apt_get_update_runs_before_apt_get_install() -> None:
    """Seen red: `apt-get install` ran on the runner's stale package lists."""
    workflow = YAML(typ="safe").load(render())
    for name, job in workflow["jobs"].items():
        for run in run_steps(job):
            if "apt-get install" in run:
                assert run.index("apt-get update &&") < run.index("apt-get install"), name


@pytest.mark.parametrize(
    "requirement",
    ["git+https://github.com/acme/middle@v0.1.0", "middle-management @ file:///opt/m.whl"],
)
def test_ci_install_overrides_the_requirement(repo: Path, requirement: str) -> None:
    """`[ci] install` in the policy replaces the pinned release, as one shell word.
    Seen red: the install line ignored the policy."""
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text(f"[ci]\ninstall = {json.dumps(requirement)}\n")
    write_workflow(repo)
    workflow = YAML(typ="safe").load((repo / WORKFLOW_PATH).read_text())
    for job in workflow["jobs"].values():
        (install,) = [run for run in run_steps(job) if "pip install" in run]
        assert shlex.split(install) == ["python", "-m", "pip", "install", requirement]
    assert write_workflow(repo) is None  # the same policy: nothing to change


@pytest.mark.parametrize("value", ["3", '"--index-url=https://evil"', '"x\\ny"', '"${{ x }}"'])
def test_a_bad_ci_install_is_one_line_naming_it(repo: Path, value: str) -> None:
    """Seen red: `[ci] install` was no key of the schema, so any value passed unchecked
    into the workflow's run line."""
    (repo / ".middle").mkdir()
    (repo / ".middle" / "policy.toml").write_text(f"[ci]\ninstall = {value}\n")
    done = run_middle("doctor", cwd=repo)
    assert "[ci] install = " in done.stdout and "expected a pip requirement" in done.stdout
    with pytest.raises(ConfigError, match=r"\[ci\] install = .*expected a pip requirement"):
        write_workflow(repo)
    assert not (repo / WORKFLOW_PATH).exists()


def test_the_readmes_gitlab_example_pins_what_was_tested() -> None:
    """The GitLab example installs this project's release and the agent CLI version the
    real-CLI tests ran (`.ci/install-agent-clis`). Seen red: it named `middle==0.1.0` and
    Claude Code 2.1.332 while 2.1.197 was tested."""
    from tests.real_agents.harness import pinned_versions

    readme = (REPO_ROOT / "README.md").read_text()
    gitlab = readme.split("# .gitlab-ci.yml", 1)[1].split("```", 1)[0]
    assert f'pip install "{DISTRIBUTION}=={__version__}"' in gitlab
    pin = pinned_versions()["CLAUDE_CODE_VERSION"]
    assert f"@anthropic-ai/claude-code@{pin}" in gitlab
    assert gitlab.count("@anthropic-ai/claude-code@") == 1
