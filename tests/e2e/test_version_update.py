"""`middle version` and `middle update` through the real CLI (issue 21 item 5), on a real
git "upstream" and a clone of it holding this package's source, never the network.

`pip` is the one stand-in: a `pip` package first on PYTHONPATH records how it was run, so
`python -m pip` in the update runs it and not the real pip (which would repoint this
test environment's install at the clone). Seen red: neither command existed (invoke: "No
idea what 'version' is!")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from middle import __version__
from tests.e2e.conftest import git

SOURCE = Path(__file__).resolve().parents[2]
PIP_SHIM = """\
import json, os, sys
with open(os.environ["PIP_RECORD"], "a") as record:
    record.write(json.dumps({"python": sys.executable, "argv": sys.argv[1:]}) + "\\n")
"""


def middle_from(
    path: Path, *args: str, shim: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m middle` with the package imported from `path` (before site-packages)."""
    pythonpath = os.pathsep.join(str(p) for p in (shim, path) if p is not None)
    return subprocess.run(
        [sys.executable, "-m", "middle", *args],
        capture_output=True,
        text=True,
        cwd=path.parent,
        env={**os.environ, "PYTHONPATH": pythonpath},
        timeout=120,
    )


@pytest.fixture
def upstream(tmp_path: Path, home: Path) -> Path:
    """A git repository holding this package's source, on main."""
    path = tmp_path / "upstream"
    shutil.copytree(
        SOURCE / "middle", path / "middle", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(SOURCE / "pyproject.toml", path / "pyproject.toml")
    # as the project's own: running middle from the checkout writes __pycache__ there
    shutil.copy(SOURCE / ".gitignore", path / ".gitignore")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "release")
    return path


@pytest.fixture
def checkout(tmp_path: Path, upstream: Path) -> Path:
    path = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(upstream), str(path))
    return path


@pytest.fixture
def shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shim"
    (folder / "pip").mkdir(parents=True)
    (folder / "pip" / "__init__.py").write_text("")
    (folder / "pip" / "__main__.py").write_text(PIP_SHIM)
    monkeypatch.setenv("PIP_RECORD", str(tmp_path / "pip.jsonl"))
    return folder


def pip_calls(tmp_path: Path) -> list[dict[str, object]]:
    record = tmp_path / "pip.jsonl"
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def test_version_in_a_git_checkout_names_the_commit_and_branch(checkout: Path) -> None:
    shown = middle_from(checkout, "version")
    assert shown.returncode == 0, shown.stderr
    commit = git(checkout, "rev-parse", "--short", "HEAD")
    assert shown.stdout.strip() == f"middle {__version__} (commit {commit}, branch main)"


def test_version_of_an_installed_copy_is_just_the_version(tmp_path: Path, home: Path) -> None:
    """A copy of the package outside any git checkout, as a wheel installs it."""
    site = tmp_path / "site"
    shutil.copytree(
        SOURCE / "middle", site / "middle", ignore=shutil.ignore_patterns("__pycache__")
    )
    shown = middle_from(site, "version")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"middle {__version__}"


def test_update_pulls_a_clean_checkout_and_reinstalls_it(
    tmp_path: Path, upstream: Path, checkout: Path, shim: Path
) -> None:
    (upstream / "NEWS.md").write_text("a new release\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "next")

    done = middle_from(checkout, "update", shim=shim)

    assert done.returncode == 0, done.stderr
    assert git(checkout, "rev-parse", "HEAD") == git(upstream, "rev-parse", "HEAD")
    (call,) = pip_calls(tmp_path)
    assert call["python"] == sys.executable
    assert call["argv"][-2:] == ["-e", str(checkout)]  # type: ignore[index]
    assert "install" in call["argv"]  # type: ignore[operator]
    assert git(upstream, "rev-parse", "--short", "HEAD") in done.stdout


@pytest.mark.parametrize("how", ["dirty", "branch"])
def test_update_refuses_a_dirty_checkout_or_another_branch_and_names_pip(
    tmp_path: Path, upstream: Path, checkout: Path, shim: Path, how: str
) -> None:
    (upstream / "NEWS.md").write_text("a new release\n")
    git(upstream, "add", "-A")
    git(upstream, "commit", "-q", "-m", "next")
    if how == "dirty":
        (checkout / "pyproject.toml").write_text("# my edit\n")
    else:
        git(checkout, "switch", "-q", "-c", "mine")
    head = git(checkout, "rev-parse", "HEAD")

    refused = middle_from(checkout, "update", shim=shim)

    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "python -m pip install -U middle-management" in refused.stderr
    assert git(checkout, "rev-parse", "HEAD") == head
    assert pip_calls(tmp_path) == []


def test_update_of_an_installed_copy_prints_the_pip_command(
    tmp_path: Path, home: Path, shim: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(
        SOURCE / "middle", site / "middle", ignore=shutil.ignore_patterns("__pycache__")
    )
    shown = middle_from(site, "update", shim=shim)
    assert shown.returncode == 0, shown.stderr
    assert "python -m pip install -U middle-management" in shown.stdout
    assert pip_calls(tmp_path) == []
