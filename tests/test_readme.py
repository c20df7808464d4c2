"""The README's quick start is what CI runs, so it cannot rot."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT


def quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_the_quick_start_is_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    install_and_run, install_and_test = quick_start_commands()
    assert "pytest -n auto" in install_and_test
    assert install_and_test in (REPO_ROOT / ".ci" / "run").read_text()
    assert "middle demo" in install_and_run
